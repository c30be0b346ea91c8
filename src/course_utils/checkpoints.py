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
import math
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
    encoder_sizes,
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
NAMES = {
    "bert": "course-bert-small",
    "roberta": "course-roberta-small",
    "electra": "course-electra-small",
    "albert": "course-albert-small",
}
#: The checkpoints shipped in the package (built and committed); `NAMES` lists all buildable ones.
CHECKPOINTS = tuple(
    name for name in NAMES.values() if (PACKAGE_CHECKPOINTS / name / "config.json").is_file()
)
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
    if name not in NAMES.values():
        raise ValueError(f"Unknown checkpoint {name!r}: use one of {', '.join(NAMES.values())}")
    root = os.environ.get("COURSE_CHECKPOINT_DIR")
    return (Path(root).expanduser() if root else PACKAGE_CHECKPOINTS) / name


def _family(name: str) -> str:
    if name not in NAMES.values():
        raise ValueError(f"Unknown checkpoint {name!r}: use one of {', '.join(NAMES.values())}")
    return next(family for family, n in NAMES.items() if n == name)


#: What each checkpoint is not, and what the card says about its tokenizer and objective.
FAMILIES: dict[str, dict[str, str]] = {
    "bert": dict(
        real="bert-base-uncased",
        tokenizer="WordPiece",
        objective="masked LM, 15% of the positions, 80% mask token / 10% random / 10% unchanged\n"
        "  (Devlin et al. 2019), dynamic masking; no next-sentence prediction.",
    ),
    "roberta": dict(
        real="roberta-base",
        tokenizer="byte-level BPE",
        objective="masked LM, 15% of the positions, 80% mask token / 10% random / 10% unchanged\n"
        "  (Devlin et al. 2019), dynamic masking (Liu et al. 2019); no next-sentence prediction.",
    ),
    "electra": dict(
        real="google/electra-small-discriminator",
        tokenizer="WordPiece",
        objective="replaced-token detection (Clark et al. 2020) as course_utils.electra\n"
        "  builds it: a generator of 1/4 the hidden size (masked LM on 15% of the positions,\n"
        "  85% mask token / 15% unchanged) sharing the embeddings with the discriminator;\n"
        "  loss = MLM + 50 x detection BCE. The discriminator is this checkpoint; the generator\n"
        "  is in generator/.",
    ),
    "albert": dict(
        real="albert-base-v2",
        tokenizer="WordPiece (albert-base-v2 uses SentencePiece)",
        objective="masked LM as course-bert-small (15%, 80/10/10, dynamic masking); no\n"
        "  sentence-order prediction. ALBERT's two size changes: factorized embedding\n"
        "  (E < H) and one set of layer weights shared by all layers (Lan et al. 2020).",
    ),
}


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
    train_tok = train_byte_level_bpe if family == "roberta" else train_wordpiece
    tokenizer = train_tok(texts, r.vocab_size)
    train_blocks = load_blocks(tokenizer, "train", size.block, cache_dir, r.max_lines)
    valid_lines = r.max_lines // 4 if r.max_lines else None
    valid_blocks = load_blocks(tokenizer, "validation", size.block, cache_dir, valid_lines)
    special = tokenizer.all_special_ids
    tc = TrainConfig.for_budget(budget, seed=seed)
    rows = [
        {"input_ids": ids, "attention_mask": mask}
        for ids, mask in zip(train_blocks["input_ids"], train_blocks["attention_mask"], strict=True)
    ]

    def loader(collator: Any) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(
            rows,
            batch_size=tc.batch_size,
            shuffle=True,
            collate_fn=collator,
            drop_last=True,
            generator=torch.Generator().manual_seed(seed),
        )

    extra: dict[str, Any] = {}
    if family == "electra":
        from course_utils.electra import (
            ElectraPretrainingModel,
            electra_collator,
            electra_loss,
            electra_validator,
            evaluate_electra,
            make_electra_eval_batches,
        )

        pair = ElectraPretrainingModel.for_tokenizer(tokenizer, budget, seed=seed)
        eval_batches = make_electra_eval_batches(valid_blocks, tokenizer, 64, seed=EVAL_SEED)
        untrained = evaluate_electra(pair, eval_batches)
        baseline = majority_baseline(train_blocks, eval_batches, len(tokenizer), special)
        history = train_mlm(
            pair,
            loader(electra_collator(tokenizer, seed=seed)),
            tc,
            valid=electra_validator(eval_batches),
            progress=progress,
            loss_fn=electra_loss,
        )
        # the generator's accuracy by what it was shown (85% [MASK], 15% unchanged)
        by_kind = accuracy_by_target_kind(pair.generator, eval_batches, tokenizer.mask_token_id)
        model: torch.nn.Module = pair.discriminator
        extra["generator"] = {
            "hidden": pair.generator.config.hidden_size,
            "layers": pair.generator.config.num_hidden_layers,
            "heads": pair.generator.config.num_attention_heads,
            "n_params_without_shared_embeddings": sum(
                p.numel() for n, p in pair.generator.named_parameters() if "embeddings" not in n
            ),
        }
        extra["disc_weight"] = pair.disc_weight
        masking = "course_utils.electra.electra_collator (15% selected, 85% mask / 15% kept)"
    else:
        seed_everything(seed)  # the initial weights come from the seed
        model = _masked_lm(family, tokenizer, budget)
        eval_batches = make_eval_batches(valid_blocks, tokenizer, batch_size=64, seed=EVAL_SEED)
        untrained = evaluate_batches(model, eval_batches)
        baseline = majority_baseline(train_blocks, eval_batches, len(tokenizer), special)
        # RoBERTa's dynamic masking: a fresh 15% / 80-10-10 mask each time a block is drawn
        collator = DynamicMaskingCollator(tokenizer, mlm_probability=0.15, seed=seed)
        history = train_mlm(model, loader(collator), tc, valid=eval_batches, progress=progress)
        by_kind = accuracy_by_target_kind(model, eval_batches, tokenizer.mask_token_id)
        masking = "course_utils.masking.DynamicMaskingCollator"
    device = next(model.parameters()).device.type
    model.to("cpu").eval()
    config = model.config

    metrics: dict[str, Any] = {
        "name": name,
        "budget": budget.name,
        "seed": seed,
        "architecture": type(model).__name__,
        "size": asdict(size),
        "embedding_size": getattr(config, "embedding_size", config.hidden_size),
        "shared_layers": family == "albert",
        "initializer_range": config.initializer_range,
        "dropout": config.hidden_dropout_prob,
        "vocab_size": len(tokenizer),
        "n_params": sum(p.numel() for p in model.parameters()),
        "n_params_trained": history.n_params,
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
        "masking": masking,
        **extra,
        "train_seconds": round(history.wall_time, 1),
        "build_seconds": round(time.perf_counter() - start, 1),
        "torch": torch.__version__,
        "device": device,
    }
    out.mkdir(parents=True, exist_ok=True)
    if family == "electra":
        pair.to("cpu").save_pretrained(out, include_generator=True)
    else:
        model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    (out / "README.md").write_text(model_card(metrics), encoding="utf-8")
    print(f"saved {name} to {out} in {metrics['build_seconds']} s")
    return metrics


def _masked_lm(family: str, tokenizer: Any, budget: Budget) -> torch.nn.Module:
    """A freshly initialised *ForMaskedLM of the family, sized by the budget."""
    if family == "bert":
        return BertForMaskedLM(small_bert_config(len(tokenizer), budget))
    if family == "albert":
        from transformers import AlbertForMaskedLM

        from course_utils.albert import small_albert_config

        # the course recipe's dropout (none) and init (mlm.encoder_sizes), as the other three
        sizes = encoder_sizes(len(tokenizer), budget)
        recipe_fields = ("initializer_range", "hidden_dropout_prob", "attention_probs_dropout_prob")
        config = small_albert_config(
            len(tokenizer),
            budget,
            pad_token_id=tokenizer.pad_token_id,
            **{k: sizes[k] for k in recipe_fields},
        )
        return AlbertForMaskedLM(config)
    config = small_roberta_config(
        len(tokenizer),
        budget,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id if tokenizer.bos_token_id is not None else 0,
        eos_token_id=tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 2,
    )
    return RobertaForMaskedLM(config)


def _family_of_metrics(m: dict[str, Any]) -> str:
    return _family(m["name"]) if m["name"] in NAMES.values() else "bert"


def _electra_rows(m: dict[str, Any]) -> str:
    v, u, b = m["valid"], m["untrained"], m["unigram_baseline"]

    def row(label: str, r: dict[str, float]) -> str:
        return (
            f"| {label} | {r['generator_accuracy']:.3f} | {r['replaced_fraction']:.3f} | "
            f"{r['disc_accuracy']:.3f} | {r['disc_precision']:.3f} | {r['disc_recall']:.3f} | "
            f"{r['disc_auc']:.3f} |"
        )

    return f"""| model | generator MLM accuracy | replaced fraction | discriminator accuracy \
| precision | recall | ROC-AUC |
|---|---|---|---|---|---|---|
{row("this checkpoint", v)}
{row("same pair, untrained", u)}

{v["n_targets"]:,} selected positions, {v["n_tokens"]:,} tokens. Discriminator metrics are over all
non-padding tokens, for the class "replaced", threshold 0.5. Generator MLM loss {v["mlm_loss"]:.3f}
(untrained {u["mlm_loss"]:.3f}; unigram baseline {b["loss"]:.3f}, majority-token accuracy
{b["accuracy"]:.3f}); detection loss {v["disc_loss"]:.3f} (untrained {u["disc_loss"]:.3f}).
{_electra_caveat(v)}"""


def _electra_caveat(v: dict[str, float]) -> str:
    """A plain warning when the discriminator is near chance (ROC-AUC < 0.6)."""
    if not v["disc_auc"] < 0.6:
        return ""
    rate = v["replaced_fraction"]
    base = -(rate * math.log(rate) + (1 - rate) * math.log(1 - rate))
    return (
        f"\n**Near chance.** A detection ROC-AUC of {v['disc_auc']:.3f} (0.5 = chance) and a "
        f"recall of {v['disc_recall']:.3f}\nmean the discriminator has barely learned to detect "
        f"replacements at this budget: its detection loss\n({v['disc_loss']:.3f}) is close to "
        f"the {base:.3f} of always predicting the replaced fraction.\n"
    )


def model_card(m: dict[str, Any]) -> str:
    """The README.md model card of a course checkpoint, from its metrics."""
    family = _family_of_metrics(m)
    f = FAMILIES[family]
    v, u, b = m["valid"], m["untrained"], m["unigram_baseline"]
    s = m["size"]

    def row(label: str, r: dict[str, float]) -> str:
        return f"| {label} | {r['loss']:.3f} | {r['accuracy']:.3f} | {r['perplexity']:.1f} |"

    command = f"python -m course_utils.checkpoints build {family} --budget {m['budget']}"
    ties = ""
    if f["tokenizer"].startswith("WordPiece"):
        ties = (
            " Token ids are numbered reproducibly (special tokens, then the sorted vocabulary),"
            "\nbut the `tokenizers` WordPiece trainer breaks ties between equally frequent merges "
            "in hash order:\non rare runs it picks a few different entries and the numbers move "
            "slightly."
        )
    kinds = ""
    if "valid_accuracy_by_target_kind" in m:
        k = m["valid_accuracy_by_target_kind"]
        who = "The generator's accuracy" if family == "electra" else "Accuracy"
        kinds = (
            f"\n{who} by what the model was shown at the target: "
            + ", ".join(
                f"{name} {r['accuracy']:.3f} ({r['n_targets']:,})"
                for name, r in k.items()
                if r["n_targets"]
            )
            + ". Compare the mask-token figure with the baseline's "
            + f"{b['accuracy']:.3f}: unchanged targets can be solved by copying the input.\n"
        )
    if family == "electra":
        table = _electra_rows(m)
        g = m["generator"]
        generator = (
            "\n- Generator (saved in `generator/`, for the chapter's visualisation): "
            f"H={g['hidden']}, L={g['layers']},\n  A={g['heads']}, embeddings shared with the "
            "discriminator; "
            f"detection weight {m['disc_weight']:g}."
        )
    else:
        table = f"""| model | masked-token loss | accuracy | perplexity |
|---|---|---|---|
{row("this checkpoint", v)}
{row("same model, untrained", u)}
{row("unigram / majority-token baseline", b)}

{v["n_targets"]:,} masked targets. The baseline predicts training-token frequencies (loss,
perplexity) or always the most frequent token (accuracy).
"""
        generator = ""
    embedding = m.get("embedding_size", s["hidden"])
    shape = f"E={embedding}, " if embedding != s["hidden"] else ""
    shared = ", one set of layer weights shared by all layers" if m.get("shared_layers") else ""
    init = ""
    if "initializer_range" in m:
        init = (
            f"\n- Initial weights: normal, std {m['initializer_range']} (1/sqrt(H), not BERT's "
            f"0.02: see `mlm.init_range`);\n  dropout {m['dropout']:g}."
        )
    quality = _quality_section(m["name"])
    return f"""# {m["name"]}

**NOT {f["real"]}: a small model trained by this course** (the Transformer-encoders course), for
offline chapters. Use it to see how pretraining behaves, not for real tasks.

- Architecture: `{m["architecture"]}`, L={s["layers"]}, H={s["hidden"]}, A={s["heads"]},
  FFN={s["ffn"]}, {shape}up to {s["block"]} tokens per input{shared},
  {m["n_params"]:,} parameters.{generator}
- Tokenizer: {f["tokenizer"]}, vocabulary {m["vocab_size"]}, trained on WikiText-2 train.
- Data: WikiText-2 (wikitext-2-v1) train, {m["data"]}; packed into {m["train_blocks"]} blocks of
  {s["block"]} tokens (FULL-SENTENCES, Liu et al. 2019).
- Objective: {f["objective"]} Masking: {m["masking"]}.
- Training: {m["steps"]} steps, batch {m["batch_size"]}, AdamW lr {m["lr"]} (linear warmup
  {m["warmup_steps"]} steps, linear decay), weight decay 0.01, clip 1.0; {m["tokens_seen"]:,}
  tokens seen ({m["epochs"]} epochs); seed {m["seed"]}; budget `{m["budget"]}`;
  {m["train_seconds"]} s of training (torch {m["torch"]}, {m.get("device", "cpu")}).{init}

## Held-out metrics (WikiText-2 validation, all blocks, masks fixed by seed {EVAL_SEED})

{table}{kinds}{quality}
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


QUALITY_FILE = REPO_ROOT / "results" / "checkpoint_quality.json"


def _quality_section(name: str) -> str:
    """SST-2 dev accuracy vs random init from results/checkpoint_quality.json, if it has `name`."""
    if not QUALITY_FILE.is_file():
        return ""
    q = json.loads(QUALITY_FILE.read_text(encoding="utf-8"))
    row = q.get("checkpoints", {}).get(name)
    if not row:
        return ""
    pre, rnd = row["pretrained"], row["random"]
    return (
        f"\n## Does it transfer? SST-2 dev accuracy (budget `{q['budget']}`, seeds "
        f"{', '.join(map(str, q['seeds']))})\n\n"
        f"Fine-tuned with `course_utils.downstream` (one recipe for both rows): pretrained "
        f"{pre['mean']:.3f} ± {pre['std']:.3f},\nsame architecture from random init "
        f"{rnd['mean']:.3f} ± {rnd['std']:.3f}, majority class {q['majority']['accuracy']:.3f}. "
        f"Gain {row['gain']:+.3f}\n(the course's aim: at least +0.03). Command: `{q['command']}` "
        f"(results/checkpoint_quality.json, made at commit {q['git_commit']}).\n"
        + _diagnosis_lines(row)
    )


def _diagnosis_lines(row: dict[str, Any]) -> str:
    """The quality file's probe and vocabulary numbers, when the row has them."""
    if "probe" not in row:
        return ""
    probe, vocab = row["probe"], row["vocabulary"]
    return (
        f"\nFrozen encoder, logistic regression on mean-pooled features (`downstream.linear_probe`"
        f"):\npretrained {probe['pretrained']:.3f}, random init {probe['random']:.3f}. "
        f"Words its tokenizer cuts into pieces:\n{vocab['sst2_dev']:.0%} of SST-2 dev words, "
        f"{vocab['wikitext_valid']:.0%} of WikiText-2 validation words.\n"
    )


def load_course_checkpoint(name: str, cls: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) of course checkpoint `name`, with a line saying what it is.

    `cls` defaults to AutoModelForMaskedLM, and to ElectraForPreTraining (the discriminator) for
    course-electra-small; pass e.g. AutoModelForSequenceClassification to fine-tune.
    """
    from transformers import AutoTokenizer, ElectraForPreTraining

    path = checkpoint_dir(name)
    family = _family(name)
    if not (path / "config.json").is_file():
        raise CourseError(
            f"Course checkpoint {name} not found in {path}.",
            fix=f"build it: python -m course_utils.checkpoints build {family} "
            "(or set COURSE_CHECKPOINT_DIR to where it is)",
        )
    if cls is None:
        cls = ElectraForPreTraining if family == "electra" else AutoModelForMaskedLM
    model = cls.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    note = ""
    metrics_file = path / "metrics.json"
    if metrics_file.is_file():
        m = json.loads(metrics_file.read_text(encoding="utf-8"))
        v = m.get("valid") or {}
        if family == "electra":
            note = (
                f"\n  {m['steps']} steps at budget {m['budget']}; WikiText-2 valid: detection "
                f"ROC-AUC {v.get('disc_auc', float('nan')):.3f},\n  generator MLM accuracy "
                f"{v.get('generator_accuracy', float('nan')):.3f}"
            )
        else:
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


def write_card(name: str, root: Path | None = None) -> Path:
    """Rewrite the README.md of a built checkpoint from its metrics.json (and the quality file)."""
    folder = (root / name) if root is not None else checkpoint_dir(name)
    m = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    (folder / "README.md").write_text(model_card(m), encoding="utf-8")
    return folder / "README.md"


def main(argv: list[str] | None = None) -> int:
    """CLI: `python -m course_utils.checkpoints build {bert,roberta,electra,albert,all}
    [--budget cpu]`; `... card NAME` rewrites a model card from its metrics."""
    parser = argparse.ArgumentParser(prog="python -m course_utils.checkpoints")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="train and save course checkpoints")
    build.add_argument("which", choices=[*NAMES, "all"])
    build.add_argument("--budget", default="cpu", choices=["ci", "cpu", "gpu"])
    build.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help="parent folder (default: src/course_utils/course_checkpoints, the committed copies)",
    )
    build.add_argument("--seed", type=int, default=0)
    card = sub.add_parser("card", help="rewrite model cards from metrics.json")
    card.add_argument("which", choices=[*NAMES, "all"])
    args = parser.parse_args(argv)
    families = list(NAMES) if args.which == "all" else [args.which]
    if args.command == "card":
        for family in families:
            print(f"wrote the card of {NAMES[family]}: {write_card(NAMES[family]).name}")
        return 0
    shared = REPO_ROOT.parent / "shared" / "data"
    if not os.environ.get("COURSE_DATA_DIR") and shared.is_dir():
        os.environ["COURSE_DATA_DIR"] = str(shared)  # offline by default where the copy exists
        print(f"COURSE_DATA_DIR unset: using the offline copy in {shared}")
    for family in families:
        name = NAMES[family]
        out = args.out_dir / name if args.out_dir else None
        build_checkpoint(name, budget=args.budget, out_dir=out, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
