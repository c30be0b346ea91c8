"""Short pretraining runs of the course BERT on WikiText-2 to pick the `cpu` checkpoint recipe.

Each run trains `course_utils.mlm.train_mlm` (the loop every checkpoint uses) with one setting and
appends a row to results/pretraining_sweep.jsonl: held-out masked-token loss, accuracy, accuracy
at [MASK] targets (the honest "uses context" number), the unigram baseline and CPU seconds.
Evaluation: the first quarter of the WikiText-2 validation blocks, masks fixed by seed 1234.

    flock /tmp/heavy.lock python scripts/pretraining_sweep.py --label base --steps 300
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
from transformers import BertForMaskedLM

from course_utils.checkpoints import EVAL_SEED, REPO_ROOT
from course_utils.masking import DynamicMaskingCollator
from course_utils.mlm import (
    TrainConfig,
    accuracy_by_target_kind,
    majority_baseline,
    make_eval_batches,
    small_bert_config,
)
from course_utils.seed import seed_everything

OUT = REPO_ROOT / "results" / "pretraining_sweep.jsonl"
TOKENIZER_DIR = Path(os.environ.get("SWEEP_TOKENIZER_DIR", "/tmp/sweep_wordpiece"))


def tokenizer_8192():
    """The cpu checkpoint's WordPiece (8192 entries on WikiText-2 train), cached on disk."""
    from transformers import AutoTokenizer

    from course_utils.data import load_course_dataset
    from course_utils.tokenization import train_wordpiece

    if (TOKENIZER_DIR / "tokenizer.json").is_file():
        return AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    texts = list(load_course_dataset("wikitext-2", split="train")["text"])
    tok = train_wordpiece(texts, 8192)
    tok.save_pretrained(TOKENIZER_DIR)
    return tok


def report() -> str:
    """results/pretraining_sweep.md: one table row per logged run, in the order they ran."""
    rows = [json.loads(line) for line in OUT.read_text(encoding="utf-8").splitlines() if line]
    lines = [
        "# Pretraining sweep (course BERT, WikiText-2, 2 shared CPU cores)",
        "",
        "Made by `python scripts/pretraining_sweep.py --report` from `pretraining_sweep.jsonl`",
        "(one line per run of the script; seeds 0). Held-out: the first quarter of the validation",
        "blocks, masks fixed by seed 1234. `[MASK] acc`: accuracy at targets shown as [MASK],",
        "the number that says whether the model uses context (always guessing the most frequent",
        "token scores the `majority` column). Wall seconds include the periodic evaluations and",
        "depend on what else ran on the machine.",
        "",
        "Checked before tuning (2026-12-01): the fine-tuning classifier loads every encoder tensor",
        "of the checkpoint (transformers' load report: only the new head and BERT's pooler are",
        "missing; tests/test_checkpoints.py compares the tensors). Same tokenizer, max length 64",
        "and dynamic padding in the pretrained and random-init runs. The 126 s vs 18 s fine-tune:",
        "OpenMP threads spin-waiting while another process held a core; 10 steps took 17.5 s",
        "with 2 threads beside another job, 0.84 s with 1 thread, 1.33 s with 2 threads and",
        "OMP_WAIT_POLICY=PASSIVE (the same for pretrained and random init).",
        "",
        "| run | steps x batch x block | lr | warmup | dropout | init std | mask prob | wall s "
        "| loss (unigram) | accuracy | [MASK] acc (majority) | loss curve (step: loss) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        a = r["args"]
        if a["steps"] < 50:
            continue  # smoke runs of the script itself
        curve = ", ".join(f"{c['step']}: {c['loss']:.2f}" for c in r["curve"])
        lines.append(
            f"| {r['label']} | {a['steps']} x {a['batch']} x {a['block']} | {a['lr']:g} | "
            f"{a['warmup']} | {a['dropout']:g} | {a.get('init', 0.02):g} | {a['mlm_prob']:g} | "
            f"{r['train_wall_s']:.0f} | {r['valid_loss']:.3f} ({r['unigram_loss']:.3f}) | "
            f"{r['valid_accuracy']:.3f} | {r['mask_accuracy']:.3f} ({r['majority_accuracy']:.3f}) "
            f"| {curve} |"
        )
    lines += [
        "",
        "## Full builds (`python -m course_utils.checkpoints build NAME --budget cpu`)",
        "",
        "| checkpoint | lr | dropout | init std | train s | held-out loss (unigram) | accuracy "
        "| [MASK] acc (majority) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    from course_utils.checkpoints import CHECKPOINTS, PACKAGE_CHECKPOINTS

    before = REPO_ROOT / "results" / "course_bert_small_init0.02_metrics.json"
    folders = [("course-bert-small, first version", before)] + [
        (name, PACKAGE_CHECKPOINTS / name / "metrics.json") for name in CHECKPOINTS
    ]
    for label, path in folders:
        m = json.loads(path.read_text(encoding="utf-8"))
        if "accuracy" not in m["valid"]:  # ELECTRA: see its model card
            continue
        kinds = m["valid_accuracy_by_target_kind"]["mask token"]["accuracy"]
        lines.append(
            f"| {label} | {m['lr']:g} | {m.get('dropout', 0.1):g} | "
            f"{m.get('initializer_range', 0.02):g} | {m['train_seconds']:.0f} | "
            f"{m['valid']['loss']:.3f} ({m['unigram_baseline']['loss']:.3f}) | "
            f"{m['valid']['accuracy']:.3f} | {kinds:.3f} "
            f"({m['unigram_baseline']['accuracy']:.3f}) |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    if sys.argv[1:] == ["--report"]:
        path = OUT.with_suffix(".md")
        path.write_text(report(), encoding="utf-8")
        print(f"wrote {path.name}")
        return
    p = argparse.ArgumentParser()
    p.add_argument("--label", required=True)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--block", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=None, help="default: 5%% of the steps")
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--mlm-prob", type=float, default=0.15)
    p.add_argument("--eval-every", type=int, default=0)
    p.add_argument("--init", type=float, default=0.02, help="initializer_range")
    p.add_argument("--beta2", type=float, default=0.999)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    from course_utils.packing import load_blocks

    torch.set_num_threads(2)
    tok = tokenizer_8192()
    train = load_blocks(tok, "train", a.block)
    valid = load_blocks(tok, "validation", a.block)
    quarter = len(valid["input_ids"]) // 4
    valid = {k: v[:quarter] for k, v in valid.items()}
    eval_batches = make_eval_batches(valid, tok, batch_size=64, seed=EVAL_SEED)
    base = majority_baseline(train, eval_batches, len(tok), exclude_ids=tok.all_special_ids)

    seed_everything(a.seed)
    config = small_bert_config(
        len(tok),
        "cpu",
        num_hidden_layers=a.layers,
        hidden_size=a.hidden,
        num_attention_heads=a.heads,
        intermediate_size=4 * a.hidden,
        max_position_embeddings=a.block,
        hidden_dropout_prob=a.dropout,
        attention_probs_dropout_prob=a.dropout,
        initializer_range=a.init,
    )
    model = BertForMaskedLM(config)
    warmup = a.warmup if a.warmup is not None else max(1, a.steps // 20)
    tc = TrainConfig(
        steps=a.steps,
        batch_size=a.batch,
        lr=a.lr,
        warmup_steps=warmup,
        eval_every=a.eval_every,
        seed=a.seed,
        adam_betas=(0.9, a.beta2),
    )
    collator = DynamicMaskingCollator(tok, mlm_probability=a.mlm_prob, seed=a.seed)
    rows = [
        {"input_ids": i, "attention_mask": m}
        for i, m in zip(train["input_ids"], train["attention_mask"], strict=True)
    ]
    loader = torch.utils.data.DataLoader(
        rows,
        batch_size=a.batch,
        shuffle=True,
        collate_fn=collator,
        drop_last=True,
        generator=torch.Generator().manual_seed(a.seed),
    )
    from course_utils.mlm import train_mlm

    cpu0 = time.process_time()
    history = train_mlm(model, loader, tc, valid=eval_batches, progress=False)
    kinds = accuracy_by_target_kind(model, eval_batches, tok.mask_token_id)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT
    ).stdout.strip()
    row = {
        "label": a.label,
        "args": vars(a) | {"warmup": warmup},
        "tokens_seen": history.tokens_seen[-1],
        "train_wall_s": round(history.wall_time, 1),
        "process_cpu_s": round(time.process_time() - cpu0, 1),
        "curve": [
            {k: round(v, 4) for k, v in e.items() if k in ("step", "loss", "accuracy", "wall_time")}
            for e in history.evals
        ],
        "valid_loss": round(history.final_eval["loss"], 4),
        "valid_accuracy": round(history.final_eval["accuracy"], 4),
        "mask_accuracy": round(kinds["mask token"]["accuracy"], 4),
        "unigram_loss": round(base["loss"], 4),
        "majority_accuracy": round(base["accuracy"], 4),
        "final_train_loss": round(sum(history.train_loss[-20:]) / len(history.train_loss[-20:]), 4),
        "commit": commit,
    }
    print(json.dumps({k: v for k, v in row.items() if k != "curve"}))
    with OUT.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
