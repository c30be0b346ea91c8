"""Downstream evaluation: fine-tune an encoder on SST-2 with one fixed recipe, report dev accuracy.

Pretraining objectives are judged by what transfers (chapters 4, 5 and 7). `finetune_sst2` takes
a course checkpoint name, a Hub model (pinned in config.py), a local folder or an in-memory
encoder (e.g. the discriminator from `electra.ElectraPretrainingModel`), puts a fresh
two-class head on it (`AutoModelForSequenceClassification`), fine-tunes it with
`transformers.Trainer` and scores the GLUE SST-2 validation split (872 sentences; "dev") with
`evaluate`'s GLUE metric (`metrics.load_metric("glue", config_name="sst2")`: the Hub module
when the Hub answers, the course's own module offline; the line it prints says which).

Two baselines use the same code: `init="random"` (the same architecture and recipe from random
weights: what pretraining adds) and `majority_baseline` (always the most frequent training
label: 50.9% on dev).

The recipe is sized by the budget (`recipe`): `ci` fine-tunes on a few hundred sentences in
seconds; `cpu` on 8,000 in about 3 minutes on 2 cores; `gpu` on the whole training split. The
training subset is fixed (the first n rows of a shuffle with `DATA_SEED`), so runs that differ
in `seed` differ only in the head's initial weights, the batch order and dropout.

Every course checkpoint against its random-init twin (chapters 4, 5, 7 read the file):

    python -m course_utils.downstream quality --budget cpu --seeds 0 1 2

writes results/checkpoint_quality.json (command, seeds, budget, git commit, recipe, per-run
accuracies, mean and std per model and init, the gain and the majority baseline).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from course_utils.budget import Budget, get_budget
from course_utils.errors import CourseError
from course_utils.results import git_commit

DATA_SEED = 0  # fixes which training sentences a budget uses, whatever the run's seed
NUM_LABELS = 2


@dataclass(frozen=True)
class FinetuneRecipe:
    """The fixed fine-tuning recipe: data size, epochs, batch, AdamW lr with linear warmup/decay."""

    train_examples: int | None  # None: the whole training split (67,349 rows)
    epochs: float
    batch_size: int
    lr: float
    warmup: float  # fraction of the steps (TrainingArguments.warmup_steps accepts a float < 1)
    weight_decay: float = 0.01
    max_length: int = 64  # tokens per sentence; dev sentences average 19.5 words
    eval_batch_size: int = 128

    def __post_init__(self) -> None:
        if self.train_examples is not None and self.train_examples < 2:
            raise ValueError(f"train_examples must be >= 2 or None, got {self.train_examples}")
        if self.epochs <= 0 or self.batch_size <= 0 or self.lr <= 0 or self.max_length < 8:
            raise ValueError(f"invalid recipe {self}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup is a fraction of the steps in [0, 1), got {self.warmup}")


def recipe(budget: Budget | str | None = None, **overrides: Any) -> FinetuneRecipe:
    """The recipe for a budget; `overrides` replace fields (e.g. lr=2e-5 for a Hub BERT-base).

    lr 1e-3 suits the course's tiny encoders (H=128, L=2; Turc et al. 2019 tune small BERTs
    up to 5e-4 with far more data); a real BERT-base wants ~2e-5.
    """
    b = budget if isinstance(budget, Budget) else get_budget(budget)
    base: FinetuneRecipe = b.pick(
        ci=FinetuneRecipe(train_examples=320, epochs=1, batch_size=32, lr=1e-3, warmup=0.1),
        # 250 steps: 100 steps took 59-68 s on the shared 2-core machine (course-bert-small)
        cpu=FinetuneRecipe(train_examples=8_000, epochs=1, batch_size=32, lr=1e-3, warmup=0.1),
        gpu=FinetuneRecipe(train_examples=None, epochs=2, batch_size=64, lr=5e-4, warmup=0.06),
    )
    return replace(base, **overrides)


@dataclass
class DownstreamResult:
    """One fine-tuning run: dev accuracy and everything needed to reproduce and compare it."""

    accuracy: float
    model: str
    init: str
    seed: int
    budget: str
    recipe: dict[str, Any]
    train_examples: int
    dev_examples: int
    steps: int
    n_params: int
    train_seconds: float
    metric_implementation: str
    device: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- data and metric


def sst2_splits(n_train: int | None, data_seed: int = DATA_SEED) -> tuple[Any, Any]:
    """(train subset, full validation split) of SST-2 (offline copy or pinned Hub revision)."""
    from course_utils.data import load_course_dataset

    ds = load_course_dataset("sst2")
    train, dev = ds["train"], ds["validation"]
    if n_train is not None:
        if n_train > len(train):
            raise ValueError(f"train_examples={n_train} exceeds the {len(train)} training rows")
        train = train.shuffle(seed=data_seed).select(range(n_train))
    return train, dev


def metric_implementation(metric: Any) -> str:
    """ "course" for the course's offline GLUE module (it carries COURSE_MODULE), else "hub"."""
    return "course" if getattr(metric, "COURSE_MODULE", False) else "hub"


def sst2_metric(verbose: bool = True) -> tuple[Any, str]:
    """`evaluate`'s GLUE SST-2 metric and which implementation it is ("hub" or "course")."""
    from course_utils.metrics import load_metric

    metric = load_metric("glue", verbose=verbose, config_name="sst2")
    return metric, metric_implementation(metric)


def majority_baseline(metric: Any | None = None) -> dict[str, Any]:
    """Dev accuracy of always predicting the most frequent label of the FULL training split."""
    train, dev = sst2_splits(None)
    labels = np.asarray(train["label"])
    majority = int(np.bincount(labels, minlength=NUM_LABELS).argmax())
    metric = metric if metric is not None else sst2_metric(verbose=False)[0]
    references = list(dev["label"])
    result = metric.compute(predictions=[majority] * len(references), references=references)
    return {
        "accuracy": float(result["accuracy"]),
        "majority_label": majority,
        "train_share": float((labels == majority).mean()),
        "dev_examples": len(references),
    }


# ---------------------------------------------------------------- models


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence "newly initialized weights" warnings: a new classification head is the point."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def _resolve(source: Any, tokenizer: Any, tmp: Path) -> tuple[str, dict[str, Any], Any]:
    """(display name, from_pretrained kwargs incl. the path, tokenizer) for any source."""
    from transformers import AutoTokenizer, PreTrainedModel

    from course_utils.checkpoints import CHECKPOINTS, NAMES, checkpoint_dir
    from course_utils.config import HUB_MODELS

    if isinstance(source, PreTrainedModel):
        if tokenizer is None:
            raise CourseError(
                "An in-memory model needs its tokenizer.",
                fix="call finetune_sst2(model, tokenizer=...)",
            )
        source.save_pretrained(tmp / "encoder")  # reload below with a classification head
        return type(source).__name__, {"pretrained_model_name_or_path": tmp / "encoder"}, tokenizer
    if not isinstance(source, str | Path):
        raise CourseError(
            f"Cannot fine-tune a {type(source).__name__}.",
            fix="pass a course checkpoint name, a HUB_MODELS key, a folder or a transformers model",
        )
    name = str(source)
    if name in NAMES.values():
        kwargs: dict[str, Any] = {"pretrained_model_name_or_path": checkpoint_dir(name)}
    elif name in HUB_MODELS:
        hub = HUB_MODELS[name]
        kwargs = {"pretrained_model_name_or_path": hub.repo_id, "revision": hub.revision}
    elif Path(name).expanduser().is_dir():
        kwargs = {"pretrained_model_name_or_path": Path(name).expanduser()}
        name = Path(name).name
    else:
        raise CourseError(
            f"Unknown model {name!r}.",
            fix=f"use a course checkpoint ({', '.join(CHECKPOINTS)}), a key of config.HUB_MODELS "
            f"({', '.join(HUB_MODELS)}), a folder, or an in-memory model with its tokenizer",
        )
    if tokenizer is None:
        tokenizer = AutoTokenizer.from_pretrained(**kwargs)
    return name, kwargs, tokenizer


def _classifier(kwargs: dict[str, Any], init: str, seed: int) -> Any:
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from course_utils.seed import seed_everything

    seed_everything(seed)  # the new head's weights (and, for init="random", all weights)
    with _quiet_transformers():
        if init == "pretrained":
            return AutoModelForSequenceClassification.from_pretrained(
                **kwargs, num_labels=NUM_LABELS
            )
        config = AutoConfig.from_pretrained(**kwargs, num_labels=NUM_LABELS)
        return AutoModelForSequenceClassification.from_config(config)


def _max_length(config: Any, wanted: int) -> int:
    """`wanted`, capped by the position table (RoBERTa numbers positions from pad + 2)."""
    positions = config.max_position_embeddings
    if config.model_type in ("roberta", "xlm-roberta", "camembert"):
        positions -= config.pad_token_id + 1
    return min(wanted, positions)


# ---------------------------------------------------------------- fine-tuning


def finetune_sst2(
    source: Any = "course-bert-small",
    tokenizer: Any = None,
    *,
    init: str = "pretrained",
    budget: Budget | str | None = None,
    seed: int = 0,
    finetune_recipe: FinetuneRecipe | None = None,
    device: torch.device | str | None = None,
    metric: Any = None,
    verbose: bool = True,
) -> DownstreamResult:
    """Fine-tune `source` on SST-2 train (a budget-sized subset) and return its dev accuracy.

    source: a course checkpoint name ("course-bert-small"), a key of config.HUB_MODELS (online,
    pinned revision), a folder, or a transformers model in memory (pass `tokenizer`). init:
    "pretrained" (the encoder's weights, a new head) or "random" (the same architecture from
    random weights: the baseline). The recipe is `recipe(budget)` unless given.
    """
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback

    from course_utils.device import autocast_dtype, get_device

    if init not in ("pretrained", "random"):
        raise CourseError(f"Unknown init {init!r}.", fix="use 'pretrained' or 'random'")
    b = budget if isinstance(budget, Budget) else get_budget(budget)
    r = finetune_recipe or recipe(b)
    device = torch.device(device) if device is not None else get_device()
    if metric is None:
        metric, implementation = sst2_metric(verbose=verbose)
    else:
        implementation = metric_implementation(metric)
    train, dev = sst2_splits(r.train_examples)

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        name, kwargs, tokenizer = _resolve(source, tokenizer, tmp)
        model = _classifier(kwargs, init, seed)
        max_length = _max_length(model.config, r.max_length)

        def encode(batch: dict[str, list[Any]]) -> dict[str, Any]:
            return tokenizer(batch["sentence"], truncation=True, max_length=max_length)

        columns = ["sentence", "idx"]
        train_ds = train.map(encode, batched=True, remove_columns=columns)
        dev_ds = dev.map(encode, batched=True, remove_columns=columns)

        def compute_metrics(prediction: Any) -> dict[str, float]:
            logits, labels = prediction
            return metric.compute(predictions=np.argmax(logits, -1), references=labels)

        dtype = autocast_dtype(device)
        args = TrainingArguments(
            output_dir=str(tmp / "trainer"),
            per_device_train_batch_size=r.batch_size,
            per_device_eval_batch_size=r.eval_batch_size,
            learning_rate=r.lr,
            num_train_epochs=r.epochs,
            warmup_steps=r.warmup,  # transformers 5: a float < 1 is a fraction of the steps
            weight_decay=r.weight_decay,
            lr_scheduler_type="linear",
            seed=seed,
            data_seed=seed,
            eval_strategy="no",  # one evaluation, after training (below)
            save_strategy="no",
            logging_strategy="no",
            report_to="none",
            disable_tqdm=True,
            use_cpu=device.type == "cpu",
            bf16=dtype == torch.bfloat16,
            fp16=dtype == torch.float16,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=train_ds,
            eval_dataset=dev_ds,
            processing_class=tokenizer,
            data_collator=DataCollatorWithPadding(tokenizer),
            compute_metrics=compute_metrics,
        )
        trainer.remove_callback(PrinterCallback)  # it prints every log dict to stdout
        start = time.perf_counter()
        with _quiet_transformers():
            output = trainer.train()
        train_seconds = time.perf_counter() - start
        with _quiet_transformers():
            scores = trainer.evaluate()
    accuracy = float(scores["eval_accuracy"])
    result = DownstreamResult(
        accuracy=accuracy,
        model=name,
        init=init,
        seed=seed,
        budget=b.name,
        recipe=asdict(r),
        train_examples=len(train_ds),
        dev_examples=len(dev_ds),
        steps=int(output.global_step),
        n_params=sum(p.numel() for p in model.parameters()),
        train_seconds=round(train_seconds, 1),
        metric_implementation=implementation,
        device=device.type,
        extra={"train_loss": float(output.training_loss), "max_length": max_length},
    )
    if verbose:
        print(
            f"SST-2 dev accuracy {accuracy:.3f}: {name} ({init} init), seed {seed}, "
            f"{result.train_examples:,} training sentences, {result.steps} steps, "
            f"{result.train_seconds:.0f} s on {device.type}"
        )
    return result


# ---------------------------------------------------------------- why transfer is small

#: Lower-cased alphabetic words of at least this many letters count in `word_split_rate`
MIN_WORD_LETTERS = 3


@torch.no_grad()
def mean_pooled_features(
    model: Any, tokenizer: Any, sentences: list[str], max_length: int = 64, batch_size: int = 256
) -> np.ndarray:
    """(n, H) last-layer hidden states averaged over each sentence's real tokens (frozen),
    pooled by chapter 6's `embeddings.mean_pool`."""
    from course_utils.embeddings import mean_pool

    model.eval()
    chunks = []
    for i in range(0, len(sentences), batch_size):
        batch = tokenizer(
            sentences[i : i + batch_size],
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        hidden = model(**batch).last_hidden_state
        chunks.append(mean_pool(hidden, batch["attention_mask"]).float().numpy())
    return np.concatenate(chunks)


def linear_probe(
    source: str,
    init: str = "pretrained",
    seed: int = 0,
    budget: Budget | str | None = None,
) -> float:
    """SST-2 dev accuracy of a logistic regression on the FROZEN encoder's mean-pooled features.

    Nothing in the encoder moves, so this measures what its representation already holds about
    sentiment; fine-tuning (`finetune_sst2`) measures what it becomes. Same training subset as
    the fine-tuning recipe of the budget; init="random" is the same architecture from `seed`.
    """
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoConfig, AutoModel

    from course_utils.seed import seed_everything

    if init not in ("pretrained", "random"):
        raise CourseError(f"Unknown init {init!r}.", fix="use 'pretrained' or 'random'")
    r = recipe(budget)
    train, dev = sst2_splits(r.train_examples)
    with tempfile.TemporaryDirectory() as tmp:
        _, kwargs, tokenizer = _resolve(source, None, Path(tmp))
        seed_everything(seed)
        with _quiet_transformers():
            if init == "pretrained":
                model = AutoModel.from_pretrained(**kwargs)
            else:
                model = AutoModel.from_config(AutoConfig.from_pretrained(**kwargs))
        max_length = _max_length(model.config, r.max_length)
        x_train = mean_pooled_features(model, tokenizer, list(train["sentence"]), max_length)
        x_dev = mean_pooled_features(model, tokenizer, list(dev["sentence"]), max_length)
    # standardised features: the two inits' hidden states differ in scale, not the probe
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    probe = LogisticRegression(max_iter=2000, random_state=seed)
    probe.fit((x_train - mean) / std, np.asarray(train["label"]))
    return float(probe.score((x_dev - mean) / std, np.asarray(dev["label"])))


def word_split_rate(tokenizer: Any, sentences: list[str]) -> float:
    """Share of the alphabetic words (>= MIN_WORD_LETTERS letters) that `tokenizer` cuts into
    two or more pieces: how well a vocabulary fits a text's words."""
    words = [
        w
        for s in sentences
        for w in s.lower().split()
        if w.isalpha() and len(w) >= MIN_WORD_LETTERS
    ]
    if not words:
        raise ValueError("no alphabetic words to split")
    pieces = tokenizer([" " + w for w in words], add_special_tokens=False)["input_ids"]
    return float(np.mean([len(p) > 1 for p in pieces]))


def vocabulary_fit(source: str) -> dict[str, float]:
    """`word_split_rate` of `source`'s tokenizer on SST-2 dev and on WikiText-2 validation."""
    from course_utils.data import load_course_dataset

    with tempfile.TemporaryDirectory() as tmp:
        _, _, tokenizer = _resolve(source, None, Path(tmp))
    _, dev = sst2_splits(None)
    wiki = load_course_dataset("wikitext-2", split="validation")
    return {
        "sst2_dev": word_split_rate(tokenizer, list(dev["sentence"])),
        "wikitext_valid": word_split_rate(tokenizer, [t for t in wiki["text"] if t.strip()]),
    }


# ---------------------------------------------------------------- every course checkpoint

QUALITY_FILE = "results/checkpoint_quality.json"
AIM = 0.03  # the course's aim: pretrained beats random init by >= 3 points (mean of the seeds)


def _summary(values: list[float]) -> dict[str, Any]:
    arr = np.asarray(values, dtype=float)
    std = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
    return {"accuracies": [float(v) for v in arr], "mean": float(arr.mean()), "std": std}


def checkpoint_quality(
    models: list[str] | None = None,
    seeds: tuple[int, ...] = (0, 1, 2),
    budget: Budget | str | None = None,
    out: Path | str | None = QUALITY_FILE,
    command: str | None = None,
    verbose: bool = True,
    update: bool = False,
) -> dict[str, Any]:
    """Fine-tune each course checkpoint and its random-init twin on SST-2 for every seed.

    One recipe (`recipe(budget)`) for all runs: pretrained and random init differ only in the
    encoder's initial weights. Returns (and writes to `out`, unless None) per-run accuracies,
    mean and sample std (ddof=1) per model and init, the gain (pretrained - random mean), whether
    it reaches the course's aim (`AIM`), a linear probe of the frozen encoder for both inits
    (`linear_probe`, first seed), the tokenizer's `vocabulary_fit`, the majority baseline, the
    command, seeds, budget and git commit. With `update`, the rows of the other checkpoints
    already in `out` are kept (each row records the commit it was made at); budget, seeds and
    recipe must then be the same.
    """
    from course_utils.checkpoints import CHECKPOINTS, NAMES, REPO_ROOT, checkpoint_dir

    models = list(models) if models else list(CHECKPOINTS)  # default: the shipped ones
    for name in models:
        if name not in NAMES.values():
            raise CourseError(
                f"Unknown course checkpoint {name!r}.", fix=f"use {', '.join(NAMES.values())}"
            )
        if not (checkpoint_dir(name) / "config.json").is_file():
            raise CourseError(
                f"Course checkpoint {name} is not built.",
                fix="python -m course_utils.checkpoints build ... (or pass --models without it)",
            )
    if not seeds:
        raise CourseError("No seeds given.", fix="pass e.g. --seeds 0 1 2")
    b = budget if isinstance(budget, Budget) else get_budget(budget)
    metric, implementation = sst2_metric(verbose=verbose)
    r = recipe(b)
    result: dict[str, Any] = {
        "command": command
        or "python -m course_utils.downstream quality "
        f"--budget {b.name} --seeds {' '.join(map(str, seeds))}",
        "budget": b.name,
        "seeds": list(seeds),
        "git_commit": git_commit(short=True, cwd=REPO_ROOT),
        "recipe": asdict(r),
        "metric_implementation": implementation,
        "aim": AIM,
        "majority": majority_baseline(metric),
        "torch": torch.__version__,
        "checkpoints": {},
    }
    if update and out is not None and Path(out).is_file():
        import json

        previous = json.loads(Path(out).read_text(encoding="utf-8"))
        for key in ("budget", "seeds", "recipe"):
            if previous[key] != result[key]:
                raise CourseError(
                    f"--update: {Path(out).name} has {key} {previous[key]}, "
                    f"this run {result[key]}.",
                    fix="rerun every checkpoint without --update",
                )
        result["checkpoints"] = previous["checkpoints"]
    for name in models:
        row: dict[str, Any] = {}
        for init in ("pretrained", "random"):
            runs = [
                finetune_sst2(name, init=init, budget=b, seed=seed, metric=metric, verbose=verbose)
                for seed in seeds
            ]
            row[init] = _summary([run.accuracy for run in runs])
            row[init]["train_seconds"] = [run.train_seconds for run in runs]
            row[init]["steps"] = runs[0].steps
        # why the gain is what it is: the frozen representation and the vocabulary's fit
        row["probe"] = {
            init: linear_probe(name, init, seed=seeds[0], budget=b)
            for init in ("pretrained", "random")
        }
        row["vocabulary"] = vocabulary_fit(name)
        row["git_commit"] = result["git_commit"]
        row["gain"] = row["pretrained"]["mean"] - row["random"]["mean"]
        row["aim_met"] = bool(row["gain"] >= AIM)
        result["checkpoints"][name] = row
        if verbose:
            print(
                f"{name}: pretrained {row['pretrained']['mean']:.3f} ± "
                f"{row['pretrained']['std']:.3f}, random init {row['random']['mean']:.3f} ± "
                f"{row['random']['std']:.3f}, gain {row['gain']:+.3f}; frozen-feature probe "
                f"{row['probe']['pretrained']:.3f} vs {row['probe']['random']:.3f}"
            )
    if out is not None:
        import json

        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


QUALITY_COMMAND = "python -m course_utils.downstream quality --budget cpu --seeds 0 1 2"


def load_quality(path: str | Path | None = None, verbose: bool = True) -> dict[str, Any]:
    """results/checkpoint_quality.json (the clone's, else GitHub's at the pinned ref)."""
    from course_utils.results import load_results

    return load_results(QUALITY_FILE, QUALITY_COMMAND, path, verbose)


def quality_table(quality: dict[str, Any]) -> Any:
    """One row per course checkpoint: fine-tuned accuracy from pretrained and random weights
    (mean and std over the seeds, in %), the gain, the frozen-feature probe of both, and the
    share of words the checkpoint's tokenizer splits in SST-2 and in WikiText-2."""
    import pandas as pd

    rows = []
    for name, row in quality["checkpoints"].items():
        pre, rnd = row["pretrained"], row["random"]
        entry = {
            "checkpoint": name,
            "fine-tuned, pretrained": f"{100 * pre['mean']:.1f} ± {100 * pre['std']:.1f}",
            "fine-tuned, random init": f"{100 * rnd['mean']:.1f} ± {100 * rnd['std']:.1f}",
            "gain (points)": round(100 * row["gain"], 1),
        }
        if "probe" in row:
            entry["probe, pretrained"] = round(100 * row["probe"]["pretrained"], 1)
            entry["probe, random init"] = round(100 * row["probe"]["random"], 1)
            entry["words split: SST-2"] = f"{row['vocabulary']['sst2_dev']:.0%}"
            entry["words split: WikiText-2"] = f"{row['vocabulary']['wikitext_valid']:.0%}"
        rows.append(entry)
    return pd.DataFrame(rows).set_index("checkpoint")


def main(argv: list[str] | None = None) -> int:
    """CLI: `python -m course_utils.downstream quality --budget cpu --seeds 0 1 2`."""
    import argparse
    import os
    import sys

    from course_utils.checkpoints import NAMES, REPO_ROOT

    parser = argparse.ArgumentParser(prog="python -m course_utils.downstream")
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quality", help="SST-2: every course checkpoint vs its random-init twin")
    q.add_argument("--budget", default="cpu", choices=["ci", "cpu", "gpu"])
    q.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    q.add_argument("--models", nargs="+", choices=list(NAMES.values()), default=None)
    q.add_argument("--out", type=Path, default=REPO_ROOT / QUALITY_FILE)
    q.add_argument("--update", action="store_true", help="keep the other checkpoints' rows")
    args = parser.parse_args(argv)
    shared = REPO_ROOT.parent / "shared" / "data"
    if not os.environ.get("COURSE_DATA_DIR") and shared.is_dir():
        os.environ["COURSE_DATA_DIR"] = str(shared)  # offline by default where the copy exists
    words = list(argv if argv is not None else sys.argv[1:])
    # no machine path in the committed file: --out keeps its file name only
    words = [Path(w).name if i and words[i - 1] == "--out" else w for i, w in enumerate(words)]
    command = "python -m course_utils.downstream " + " ".join(words)
    checkpoint_quality(
        args.models, tuple(args.seeds), args.budget, args.out, command, update=args.update
    )
    print(f"wrote {args.out.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
