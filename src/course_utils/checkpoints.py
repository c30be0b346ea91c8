"""The course's own small checkpoints: `course-bert-small` and `course-roberta-small`.

Both are pretrained here with masked LM (Devlin et al. 2019, arXiv:1810.04805; Liu et al. 2019,
arXiv:1907.11692) on WikiText-2 train, with a WordPiece resp. byte-level BPE tokenizer trained on
the same text, at the `cpu` budget (about 25 minutes per model on 2 CPU cores). They are NOT
bert-base-uncased or roberta-base: offline chapters use them where the real checkpoints cannot be
downloaded.

Committed, not built on demand: at the cpu budget each is ~1.5M parameters, ~6 MB of fp32
safetensors plus a tokenizer (< 20 MB for both). Committing them lets every later chapter
(fill-mask, embeddings, fine-tuning) and CI load them offline in a second, whereas rebuilding
costs about 25 minutes of CPU per model, which CI cannot afford; the build stays one command:
`python -m course_utils.checkpoints build all --budget cpu` (model card: README.md beside weights).

They live INSIDE the package, in `src/course_utils/course_checkpoints/<name>/`, and ship as package
data in the wheel: a learner on Colab installs the package from git (no clone of the repository)
and still finds them, offline and at the version that matches the code. Seven chapters at ~6 MB
each stay far below PyPI's 100 MB wheel limit (tests/test_packaging.py checks the size).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForMaskedLM, BertForMaskedLM, RobertaForMaskedLM

from course_utils.budget import Budget, get_budget
from course_utils.errors import CourseError
from course_utils.masking import DynamicMaskingCollator
from course_utils.mlm import (
    TrainConfig,
    accuracy_by_target_kind,
    evaluate_batches,
    majority_baseline,
    make_eval_batches,
    model_size,
    small_bert_config,
    small_roberta_config,
    train_mlm,
)
from course_utils.seed import seed_everything

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Where the committed checkpoints live: package data, so a pip install (Colab) carries them.
PACKAGE_CHECKPOINTS = Path(__file__).resolve().parent / "course_checkpoints"
NAMES = {"bert": "course-bert-small", "roberta": "course-roberta-small"}
CHECKPOINTS = tuple(NAMES.values())
EVAL_SEED = 1234  # the fixed masking seed of every held-out number in the model cards


@dataclass(frozen=True)
class Recipe:
    """Data side of a build: vocabulary size and WikiText-2 lines used (None = all).

    Steps, batch and learning rate come from `TrainConfig.for_budget`, sizes from `model_size`.
    """

    vocab_size: int
    max_lines: int | None


def recipe(budget: Budget | str | None = None) -> Recipe:
    """The data recipe for a budget; ci trains on a slice for seconds (tests only)."""
    b = budget if isinstance(budget, Budget) else get_budget(budget)
    # 8192 WordPiece/BPE entries keep a cpu checkpoint near 6 MB (the embedding is most of it)
    return b.pick(ci=Recipe(1000, 600), cpu=Recipe(8192, None), gpu=Recipe(16384, None))


def checkpoint_dir(name: str) -> Path:
    """Where checkpoint `name` lives: env COURSE_CHECKPOINT_DIR, else the package's own copy.

    The default is `course_utils/course_checkpoints/` inside the installed package (package data),
    so it exists wherever the package is installed, with or without a clone of the repository.
    """
    if name not in CHECKPOINTS:
        raise ValueError(f"Unknown checkpoint {name!r}: use one of {', '.join(CHECKPOINTS)}")
    root = os.environ.get("COURSE_CHECKPOINT_DIR")
    return (Path(root).expanduser() if root else PACKAGE_CHECKPOINTS) / name


def _family(name: str) -> str:
    if name not in CHECKPOINTS:
        raise ValueError(f"Unknown checkpoint {name!r}: use one of {', '.join(CHECKPOINTS)}")
    return "bert" if name == NAMES["bert"] else "roberta"


def _train_texts(max_lines: int | None) -> tuple[list[str], str]:
    from course_utils.data import data_dir, load_course_dataset

    train = load_course_dataset("wikitext-2", split="train")
    texts = list(train["text"])[:max_lines] if max_lines else list(train["text"])
    source = (
        "offline copy (COURSE_DATA_DIR): the train file is an 88% prefix of the official split"
        if data_dir() is not None
        else "Salesforce/wikitext wikitext-2-v1 from the Hub (pinned revision in config.py)"
    )
    return texts, source


def build_checkpoint(
    name: str,
    budget: Budget | str = "cpu",
    out_dir: Path | str | None = None,
    seed: int = 0,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train tokenizer and model `name`; save both with a model card; return the metrics."""
    from course_utils.packing import load_blocks
    from course_utils.tokenization import train_byte_level_bpe, train_wordpiece

    family = _family(name)
    budget = budget if isinstance(budget, Budget) else get_budget(budget)
    r = recipe(budget)
    size = model_size(budget)
    out = Path(out_dir) if out_dir is not None else checkpoint_dir(name)
    start = time.perf_counter()

    texts, source = _train_texts(r.max_lines)
    train_tok = train_wordpiece if family == "bert" else train_byte_level_bpe
    tokenizer = train_tok(texts, r.vocab_size)
    train_blocks = load_blocks(tokenizer, "train", size.block, cache_dir, r.max_lines)
    valid_lines = r.max_lines // 4 if r.max_lines else None
    valid_blocks = load_blocks(tokenizer, "validation", size.block, cache_dir, valid_lines)

    seed_everything(seed)  # the initial weights come from the seed
    if family == "bert":
        model: torch.nn.Module = BertForMaskedLM(small_bert_config(len(tokenizer), budget))
    else:
        config = small_roberta_config(
            len(tokenizer),
            budget,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id if tokenizer.bos_token_id is not None else 0,
            eos_token_id=tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 2,
        )
        model = RobertaForMaskedLM(config)

    eval_batches = make_eval_batches(valid_blocks, tokenizer, batch_size=64, seed=EVAL_SEED)
    untrained = evaluate_batches(model, eval_batches)
    special = tokenizer.all_special_ids
    baseline = majority_baseline(train_blocks, eval_batches, len(tokenizer), exclude_ids=special)

    tc = TrainConfig.for_budget(budget, seed=seed)
    # RoBERTa's dynamic masking: a fresh 15% / 80-10-10 mask each time a block is drawn
    collator = DynamicMaskingCollator(tokenizer, mlm_probability=0.15, seed=seed)
    rows = [
        {"input_ids": ids, "attention_mask": mask}
        for ids, mask in zip(train_blocks["input_ids"], train_blocks["attention_mask"], strict=True)
    ]
    loader = torch.utils.data.DataLoader(
        rows,
        batch_size=tc.batch_size,
        shuffle=True,
        collate_fn=collator,
        drop_last=True,
        generator=torch.Generator().manual_seed(seed),
    )
    history = train_mlm(model, loader, tc, valid=eval_batches, progress=progress)
    device = next(model.parameters()).device.type
    by_kind = accuracy_by_target_kind(model, eval_batches, tokenizer.mask_token_id)
    model.to("cpu").eval()

    metrics: dict[str, Any] = {
        "name": name,
        "budget": budget.name,
        "seed": seed,
        "architecture": type(model).__name__,
        "size": asdict(size),
        "vocab_size": len(tokenizer),
        "n_params": history.n_params,
        "steps": tc.steps,
        "batch_size": tc.batch_size,
        "lr": tc.lr,
        "warmup_steps": tc.warmup_steps,
        "tokens_seen": history.tokens_seen[-1],
        "train_blocks": len(train_blocks["input_ids"]),
        "epochs": round(tc.steps * tc.batch_size / len(rows), 2),
        "final_train_loss": sum(history.train_loss[-20:]) / len(history.train_loss[-20:]),
        "valid": history.final_eval,
        "valid_accuracy_by_target_kind": by_kind,
        "valid_curve": history.evals,
        "untrained": untrained,
        "unigram_baseline": baseline,
        "data": source,
        "masking": "course_utils.masking.DynamicMaskingCollator",
        "train_seconds": round(history.wall_time, 1),
        "build_seconds": round(time.perf_counter() - start, 1),
        "torch": torch.__version__,
        "device": device,
    }
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    (out / "README.md").write_text(model_card(metrics), encoding="utf-8")
    print(f"saved {name} to {out} in {metrics['build_seconds']} s")
    return metrics


def model_card(m: dict[str, Any]) -> str:
    """The README.md model card of a course checkpoint, from its metrics."""
    v, u, b = m["valid"], m["untrained"], m["unigram_baseline"]
    tok = "WordPiece" if m["architecture"].startswith("Bert") else "byte-level BPE"
    real = "bert-base-uncased" if tok == "WordPiece" else "roberta-base"
    s = m["size"]
    family = "bert" if tok == "WordPiece" else "roberta"

    def row(label: str, r: dict[str, float]) -> str:
        return f"| {label} | {r['loss']:.3f} | {r['accuracy']:.3f} | {r['perplexity']:.1f} |"

    command = f"python -m course_utils.checkpoints build {family} --budget {m['budget']}"
    ties = ""
    if tok == "WordPiece":
        ties = (
            " Token ids are numbered reproducibly (special tokens, then the sorted vocabulary),"
            "\nbut the `tokenizers` WordPiece trainer breaks ties between equally frequent merges "
            "in hash order:\non rare runs it picks a few different entries and the numbers move "
            "slightly."
        )
    kinds = ""
    if "valid_accuracy_by_target_kind" in m:
        k = m["valid_accuracy_by_target_kind"]
        kinds = (
            "\nAccuracy by what the model was shown at the target: "
            + ", ".join(f"{name} {r['accuracy']:.3f} ({r['n_targets']:,})" for name, r in k.items())
            + ". Compare the mask-token figure with the baseline's "
            + f"{b['accuracy']:.3f}: unchanged targets can be solved by copying the input.\n"
        )
    return f"""# {m["name"]}

**NOT {real}: a small model trained by this course** (the Transformer-encoders course), for
offline chapters. Use it to see how masked LM behaves, not for real tasks.

- Architecture: `{m["architecture"]}`, L={s["layers"]}, H={s["hidden"]}, A={s["heads"]},
  FFN={s["ffn"]}, up to {s["block"]} tokens per input, {m["n_params"]:,} parameters.
- Tokenizer: {tok}, vocabulary {m["vocab_size"]}, trained on WikiText-2 train.
- Data: WikiText-2 (wikitext-2-v1) train, {m["data"]}; packed into {m["train_blocks"]} blocks of
  {s["block"]} tokens (FULL-SENTENCES, Liu et al. 2019).
- Objective: masked LM, 15% of the positions, 80% mask token / 10% random / 10% unchanged
  (Devlin et al. 2019), dynamic masking ({m["masking"]}); no next-sentence prediction.
- Training: {m["steps"]} steps, batch {m["batch_size"]}, AdamW lr {m["lr"]} (linear warmup
  {m["warmup_steps"]} steps, linear decay), weight decay 0.01, clip 1.0; {m["tokens_seen"]:,}
  tokens seen ({m["epochs"]} epochs); seed {m["seed"]}; budget `{m["budget"]}`;
  {m["train_seconds"]} s of training (torch {m["torch"]}, {m.get("device", "cpu")}).

## Held-out metrics (WikiText-2 validation, all blocks, masks fixed by seed {EVAL_SEED})

| model | masked-token loss | accuracy | perplexity |
|---|---|---|---|
{row("this checkpoint", v)}
{row("same model, untrained", u)}
{row("unigram / majority-token baseline", b)}

{v["n_targets"]:,} masked targets. The baseline predicts training-token frequencies (loss,
perplexity) or always the most frequent token (accuracy).
{kinds}
## Reproduce

```bash
COURSE_DATA_DIR=../shared/data {command}
```

Seeds fix the initial weights, the data order and the masks.{ties}

## Load

```python
from course_utils.checkpoints import load_course_checkpoint
model, tokenizer = load_course_checkpoint("{m["name"]}")
```
"""


def load_course_checkpoint(name: str, cls: Any = AutoModelForMaskedLM) -> tuple[Any, Any]:
    """(model, tokenizer) of course checkpoint `name`, with a line saying what it is."""
    from transformers import AutoTokenizer

    path = checkpoint_dir(name)
    if not (path / "config.json").is_file():
        raise CourseError(
            f"Course checkpoint {name} not found in {path}.",
            fix=f"build it: python -m course_utils.checkpoints build {_family(name)} "
            "(or set COURSE_CHECKPOINT_DIR to where it is)",
        )
    model = cls.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    note = ""
    metrics_file = path / "metrics.json"
    if metrics_file.is_file():
        m = json.loads(metrics_file.read_text(encoding="utf-8"))
        v = m.get("valid") or {}
        note = (
            f"\n  {m['steps']} steps at budget {m['budget']}; WikiText-2 valid accuracy "
            f"{v.get('accuracy', float('nan')):.3f}, perplexity "
            f"{v.get('perplexity', float('nan')):.1f}"
        )
    n_params = sum(p.numel() for p in model.parameters())
    # short lines, no machine path: the website prints this
    print(
        f"{name}: a small {type(model).__name__} ({n_params / 1e6:.1f}M parameters)\n"
        f"  trained by this course on WikiText-2, NOT a real Hub checkpoint{note}"
    )
    return model, tokenizer


def main(argv: list[str] | None = None) -> int:
    """CLI: `python -m course_utils.checkpoints build {bert,roberta,all} [--budget cpu]`."""
    parser = argparse.ArgumentParser(prog="python -m course_utils.checkpoints")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="train and save course checkpoints")
    build.add_argument("which", choices=["bert", "roberta", "all"])
    build.add_argument("--budget", default="cpu", choices=["ci", "cpu", "gpu"])
    build.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help="parent folder (default: src/course_utils/course_checkpoints, the committed copies)",
    )
    build.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    shared = REPO_ROOT.parent / "shared" / "data"
    if not os.environ.get("COURSE_DATA_DIR") and shared.is_dir():
        os.environ["COURSE_DATA_DIR"] = str(shared)  # offline by default where the copy exists
        print(f"COURSE_DATA_DIR unset: using the offline copy in {shared}")
    families = ["bert", "roberta"] if args.which == "all" else [args.which]
    for family in families:
        name = NAMES[family]
        out = args.out_dir / name if args.out_dir else None
        build_checkpoint(name, budget=args.budget, out_dir=out, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
