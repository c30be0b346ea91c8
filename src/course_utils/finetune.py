"""Chapter 7: one fine-tuning script from one CPU to many GPUs, and the chapter's experiments.

`python scripts/finetune.py train ...` (or `python -m course_utils.finetune train ...`) fine-tunes
an encoder on SST-2 with `transformers.Trainer` and runs unchanged

- on one CPU or one GPU: `python scripts/finetune.py train --model course-bert-small`;
- on N processes: `torchrun --nproc_per_node N scripts/finetune.py train ...` (DDP: gloo on CPU,
  NCCL on GPUs). Trainer reads the variables torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, ...),
  starts the process group and wraps the model in DistributedDataParallel itself; this file only
  turns the *global* batch it is given into a per-process batch (global / WORLD_SIZE), so the
  same command line means the same optimisation whatever the number of processes.

Why a 2-process run can equal the 1-process run (tests/test_ddp.py checks it): the samples
are drawn by accelerate's seedable sampler, identical in every process, and process i takes
every i-th per-process slice, so the union of the slices of a step is the 1-process batch; DDP
averages the gradients of equal-sized slices, which is the gradient of the mean loss over the
global batch; dropout is switched off (`--no-dropout`) because each process draws its own masks.
What remains is the order of floating-point sums (float32 rounding).

`families` writes results/finetune_families.json (chapter 7's comparison and learning-rate
sweep); see `run_families`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from course_utils.budget import Budget, get_budget
from course_utils.errors import CourseError
from course_utils.results import git_commit
from course_utils.results import load_results as _load_results

RESULTS_FILE = "results/finetune_families.json"  # written by `families`, read by chapter 7
#: The command that remakes RESULTS_FILE (named when neither the clone nor GitHub has it).
RERUN_COMMAND = "python scripts/finetune.py families --budget cpu"
#: Seconds per fine-tuning step of course-bert-small (batch 32) on the course's 2 shared CPU
#: cores, evaluations included: what chapter 7 announces before training
CPU_SECONDS_PER_STEP = 0.6
TINY_MODEL = "tiny-bert"  # a 2-layer, H=32 BERT from random weights: the DDP test's model
TINY_TOKENIZER = "course-bert-small"  # its vocabulary (package data, always present)


# ---------------------------------------------------------------- distributed bookkeeping


def world_size() -> int:
    """Processes in this run: WORLD_SIZE as torchrun sets it, else 1."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def per_device_batch(global_batch: int, processes: int | None = None) -> int:
    """The batch each process gets so that all processes together see `global_batch`."""
    processes = processes or world_size()
    if global_batch <= 0 or global_batch % processes:
        raise CourseError(
            f"A global batch of {global_batch} does not split over {processes} processes.",
            fix=f"pass --global-batch as a positive multiple of {processes}",
        )
    return global_batch // processes


def _no_dropout(config: Any) -> list[str]:
    """Set every dropout probability of a config to 0; return the names set."""
    names = []
    for key, value in config.to_dict().items():
        if "dropout" in key and isinstance(value, float):
            setattr(config, key, 0.0)
            names.append(key)
    return names


def load_classifier(
    model: str, init: str = "pretrained", seed: int = 0, dropout: bool = True
) -> tuple[Any, Any, str]:
    """(classification model with a fresh 2-class head, tokenizer, display name).

    model: TINY_MODEL, a course checkpoint name, a key of config.HUB_MODELS or a folder
    (resolved by `downstream`, the chapters' SST-2 harness).
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification, BertConfig

    from course_utils import downstream
    from course_utils.seed import seed_everything

    if init not in ("pretrained", "random"):
        raise CourseError(f"Unknown init {init!r}.", fix="use 'pretrained' or 'random'")
    with tempfile.TemporaryDirectory() as tmp:
        if model == TINY_MODEL:
            _, kwargs, tokenizer = downstream._resolve(TINY_TOKENIZER, None, Path(tmp))
            config: Any = BertConfig(
                vocab_size=len(tokenizer),
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=2,
                intermediate_size=64,
                max_position_embeddings=128,
                num_labels=downstream.NUM_LABELS,
            )
            init, name = "random", TINY_MODEL
        else:
            name, kwargs, tokenizer = downstream._resolve(model, None, Path(tmp))
            config = AutoConfig.from_pretrained(**kwargs, num_labels=downstream.NUM_LABELS)
        if not dropout:
            _no_dropout(config)
        seed_everything(seed)  # the new head (and, for init="random", every weight)
        with downstream._quiet_transformers():
            if init == "pretrained":
                classifier = AutoModelForSequenceClassification.from_pretrained(
                    **kwargs, config=config
                )
            else:
                classifier = AutoModelForSequenceClassification.from_config(config)
    return classifier, tokenizer, name


def encode_sst2(train: Any, dev: Any, tokenizer: Any, max_length: int) -> tuple[Any, Any]:
    """Tokenize both splits with truncation and no padding (the collator pads each batch)."""

    def encode(batch: dict[str, list[Any]]) -> dict[str, Any]:
        return tokenizer(batch["sentence"], truncation=True, max_length=max_length)

    columns = ["sentence", "idx"]
    return (
        train.map(encode, batched=True, remove_columns=columns),
        dev.map(encode, batched=True, remove_columns=columns),
    )


# ---------------------------------------------------------------- the scaling script


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Fine-tune with Trainer on 1 process or under torchrun; rank 0 writes result.json."""
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback

    from course_utils import downstream
    from course_utils.device import autocast_dtype, get_device

    b = get_budget(args.budget)
    r = downstream.recipe(b)
    processes = world_size()
    global_batch = args.global_batch or r.batch_size
    batch = per_device_batch(global_batch, processes)
    n_train = args.train_examples or r.train_examples
    device = get_device("cpu" if args.cpu else None)
    model, tokenizer, name = load_classifier(args.model, args.init, args.seed, not args.no_dropout)
    train_split, dev_split = downstream.sst2_splits(n_train)
    if args.dev_examples:
        dev_split = dev_split.select(range(min(args.dev_examples, len(dev_split))))
    max_length = downstream._max_length(model.config, r.max_length)
    train_ds, dev_ds = encode_sst2(train_split, dev_split, tokenizer, max_length)
    metric, implementation = downstream.sst2_metric(verbose=False)

    def compute_metrics(prediction: Any) -> dict[str, float]:
        logits, labels = prediction
        return metric.compute(predictions=np.argmax(logits, -1), references=labels)

    output_dir = Path(args.output_dir)
    dtype = autocast_dtype(device)
    training_args = TrainingArguments(
        output_dir=str(output_dir / "trainer"),
        per_device_train_batch_size=batch,  # global batch = batch x WORLD_SIZE
        per_device_eval_batch_size=r.eval_batch_size,
        learning_rate=args.lr or r.lr,
        num_train_epochs=r.epochs,
        max_steps=args.max_steps or -1,
        warmup_steps=r.warmup,
        weight_decay=r.weight_decay,
        seed=args.seed,
        data_seed=args.seed,  # the same sample order in every process and in a 1-process run
        eval_strategy="no",
        save_strategy="no",
        logging_strategy="steps",
        logging_steps=1,  # the loss of every step, averaged over the processes
        # One label per sentence: the loss is a mean over sentences already. Left True (the
        # default), Trainer multiplies the loss by WORLD_SIZE for models whose forward takes
        # **kwargs (it expects them to divide by the global token count; a classifier does
        # not), so DDP trained on WORLD_SIZE x the gradient (tests/test_ddp.py caught it).
        average_tokens_across_devices=False,
        report_to="none",
        disable_tqdm=True,
        use_cpu=device.type == "cpu",
        bf16=dtype == torch.bfloat16,
        fp16=dtype == torch.float16,
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train_ds,
        eval_dataset=dev_ds,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
    )
    trainer.remove_callback(PrinterCallback)
    start = time.perf_counter()
    with downstream._quiet_transformers():
        output = trainer.train()
        seconds = time.perf_counter() - start
        scores = trainer.evaluate()
    result = {
        "model": name,
        "init": args.init if args.model != TINY_MODEL else "random",
        "budget": b.name,
        "seed": args.seed,
        "world_size": processes,
        "backend": str(training_args.distributed_state.backend) if processes > 1 else None,
        "device": device.type,
        "global_batch": global_batch,
        "per_device_batch": batch,
        "train_examples": len(train_ds),
        "dev_examples": len(dev_ds),
        "steps": int(output.global_step),
        "dropout": not args.no_dropout,
        "losses": [h["loss"] for h in trainer.state.log_history if "loss" in h],
        "train_loss": float(output.training_loss),
        "dev_accuracy": float(scores["eval_accuracy"]),
        "dev_loss": float(scores["eval_loss"]),
        "train_seconds": round(seconds, 2),
        "metric_implementation": implementation,
    }
    trainer.save_model(str(output_dir / "model"))  # rank 0 writes, the others wait
    if trainer.is_world_process_zero():
        (output_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        print(
            f"{name}: {result['steps']} steps of {global_batch} sentences on {processes} "
            f"process(es), train loss {result['train_loss']:.4f}, "
            f"dev accuracy {result['dev_accuracy']:.3f}, {seconds:.1f} s",
            flush=True,
        )
    return result


# ---------------------------------------------------------------- chapter 7's experiments

#: Published SST-2 accuracies (%), with the split they were measured on: dev and test differ.
PUBLISHED = [
    {"model": "BERT-Tiny (L2/H128)", "accuracy": 83.2, "split": "test",
     "source": "google-research/bert README (BERT miniatures), GLUE test"},
    {"model": "BERT-Mini (L4/H256)", "accuracy": 85.9, "split": "test",
     "source": "google-research/bert README (BERT miniatures), GLUE test"},
    {"model": "DistilBERT", "accuracy": 91.3, "split": "dev",
     "source": "Sanh et al. 2019 / distilbert-base-uncased model card"},
    {"model": "bert-base-uncased", "accuracy": 92.7, "split": "dev",
     "source": "Sanh et al. 2019, Table 1 (BERT-base dev)"},
    {"model": "albert-base-v2", "accuracy": 92.9, "split": "dev",
     "source": "google-research/albert README"},
]  # fmt: skip

#: Learning rate per kind of encoder: the course's tiny encoders (H=128, 2 layers) take 1e-3
#: (downstream.recipe); a real 6- or 12-layer checkpoint diverges there and takes ~1e-4 / 2e-5.
LR_REAL_SMALL = 1e-4  # all-MiniLM-L6-v2 (6 layers, H=384)
LR_BASE = 2e-5  # BERT-base-sized Hub checkpoints (Devlin et al. 2019 search 2e-5..5e-5)
ONLINE_MODELS = ("bert-base-uncased", "roberta-base", "electra-small-discriminator",
                 "albert-base-v2")  # fmt: skip
OFFLINE_REAL = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class FamiliesPlan:
    """How big the family comparison and the learning-rate sweep are, per budget."""

    train_examples: int
    seeds: int
    sweep_lrs: tuple[float, ...]
    real_train_examples: int  # all-MiniLM-L6-v2 (and the online models) are ~25x costlier


def families_plan(budget: Budget | str | None = None) -> FamiliesPlan:
    """The sizes of `run_families` for a budget (ci: seconds in CI; cpu: the committed file)."""
    b = budget if isinstance(budget, Budget) else get_budget(budget)
    return b.pick(
        ci=FamiliesPlan(96, 3, (3e-4, 1e-3, 3e-3), 32),
        # the course checkpoints' quality recipe (downstream.recipe: 8,000 sentences, 250 steps,
        # ~20 s a run on 2 cores); MiniLM costs ~25x more per sentence, so it sees 2,000
        cpu=FamiliesPlan(8_000, 3, (3e-4, 1e-3, 3e-3), 2_000),
        gpu=FamiliesPlan(67_349, 5, (1e-4, 3e-4, 1e-3, 3e-3), 67_349),
    )


def available_checkpoints() -> list[str]:
    """The course checkpoints present on disk (the ELECTRA/ALBERT ones may come later)."""
    from course_utils.checkpoints import CHECKPOINTS, checkpoint_dir

    return [n for n in CHECKPOINTS if (checkpoint_dir(n) / "config.json").is_file()]


def summarise(accuracies: Sequence[float]) -> dict[str, float]:
    """Mean, sample standard deviation, min and max of accuracies (fractions)."""
    a = np.asarray(accuracies, dtype=float)
    return {
        "mean": float(a.mean()),
        "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
        "min": float(a.min()),
        "max": float(a.max()),
        "n": len(a),
    }


def run_families(
    budget: Budget | str | None = None,
    seeds: int | None = None,
    out: str | Path | None = RESULTS_FILE,
    online: bool = False,
    models: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Fine-tune every available family on SST-2 over several seeds; write the JSON.

    Rows: the course checkpoints present (`available_checkpoints`), course-bert-small's
    architecture from random weights (what pretraining adds), all-MiniLM-L6-v2 (a real
    checkpoint, offline), online the pinned Hub base models; beside the majority baseline and
    the published figures (`PUBLISHED`). Then a learning-rate sweep of course-bert-small.
    All runs use `downstream.finetune_sst2` (the harness of chapters 4 and 5) with its recipe,
    resized by `families_plan`; the seed changes the head's initial weights, batch order and
    dropout, never the training subset.
    """
    from course_utils import downstream

    b = budget if isinstance(budget, Budget) else get_budget(budget)
    plan = families_plan(b)
    n_seeds = seeds or plan.seeds
    metric, implementation = downstream.sst2_metric(verbose=False)
    course = available_checkpoints()
    if models is None:
        models = [*course, OFFLINE_REAL, *(ONLINE_MODELS if online else ())]
    start = time.perf_counter()

    def one(model: str, init: str, seed: int, lr: float, n_train: int) -> dict[str, Any]:
        r = downstream.recipe(b, lr=lr, train_examples=n_train)
        res = downstream.finetune_sst2(
            model, init=init, budget=b, seed=seed, finetune_recipe=r, metric=metric,
            verbose=False,
        )  # fmt: skip
        row = {k: getattr(res, k) for k in ("model", "init", "seed", "accuracy", "steps")}
        row |= {"lr": lr, "train_examples": res.train_examples, "n_params": res.n_params,
                "train_seconds": res.train_seconds}  # fmt: skip
        print(f"  {model} ({init}) seed {seed} lr {lr:g}: {res.accuracy:.3f}", flush=True)
        return row

    runs = []
    rows = [(m, "pretrained") for m in models]
    if course:
        rows.insert(len(course), (course[0], "random"))
    for model, init in rows:
        real = model not in course
        lr = (LR_BASE if model in ONLINE_MODELS else LR_REAL_SMALL) if real else None
        r0 = downstream.recipe(b)
        n_train = plan.real_train_examples if real else plan.train_examples
        for seed in range(n_seeds):
            runs.append(one(model, init, seed, lr or r0.lr, n_train))
    table = []
    for model, init in rows:
        mine = [r for r in runs if r["model"] == model and r["init"] == init]
        table.append({"model": model, "init": init, "lr": mine[0]["lr"],
                      "train_examples": mine[0]["train_examples"],
                      "n_params": mine[0]["n_params"],
                      "accuracy": summarise([r["accuracy"] for r in mine]),
                      "train_seconds": float(np.mean([r["train_seconds"] for r in mine])),
                      })  # fmt: skip
    sweep = []
    if course:
        base = next(r for r in runs if r["model"] == course[0] and r["init"] == "pretrained")
        for lr in plan.sweep_lrs:
            if lr == base["lr"]:  # reuse the family runs at the recipe's lr
                mine = [r for r in runs if r["model"] == course[0] and r["init"] == "pretrained"]
            else:
                mine = [one(course[0], "pretrained", s, lr, plan.train_examples)
                        for s in range(n_seeds)]  # fmt: skip
            sweep.append({"lr": lr, "accuracies": [r["accuracy"] for r in mine],
                          "accuracy": summarise([r["accuracy"] for r in mine])})  # fmt: skip
    result = {
        "command": f"python scripts/finetune.py families --budget {b.name}"
        + (f" --seeds {n_seeds}" if seeds else "")
        + (" --online" if online else ""),
        "budget": b.name,
        "seeds": list(range(n_seeds)),
        "plan": asdict(plan),
        "recipe": asdict(downstream.recipe(b)),
        "commit": git_commit(),
        "course_checkpoints": course,
        "missing_course_checkpoints": [
            n
            for n in (
                "course-bert-small",
                "course-roberta-small",
                "course-electra-small",
                "course-albert-small",
            )
            if n not in course
        ],  # fmt: skip
        "online_models": list(ONLINE_MODELS) if online else [],
        "metric_implementation": implementation,
        "majority": downstream.majority_baseline(metric),
        "published": PUBLISHED,
        "table": table,
        "lr_sweep": {"model": course[0] if course else None, "points": sweep},
        "runs": runs,
        "seconds": round(time.perf_counter() - start, 1),
    }
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {out} ({result['seconds']:.0f} s)")
    return result


# ---------------------------------------------------------------- chapter 7's helpers

#: Words that flip or weaken polarity; "n't" covers "isn't", "doesn't", ... after tokenization
NEGATIONS = frozenset(
    {"not", "no", "never", "n't", "nothing", "none", "nobody", "neither", "nor", "without",
     "hardly", "cannot"}
)  # fmt: skip


def has_negation(sentence: str) -> bool:
    """Whether an SST-2 sentence (lower-cased, tokenized: "is n't") contains a negation."""
    return any(word in NEGATIONS for word in sentence.lower().split())


def word_counts(sentences: Sequence[str]) -> np.ndarray:
    """Words per sentence (SST-2 is pre-tokenized: split on spaces)."""
    return np.array([len(s.split()) for s in sentences])


def padding_stats(lengths: Sequence[int], batch_size: int, max_length: int) -> dict[str, Any]:
    """Tokens fed with dynamic padding (each batch to its longest) vs padding to max_length.

    lengths: tokens per example (after truncation), in the order batches are formed.
    """
    lengths = np.minimum(np.asarray(lengths), max_length)
    real = int(lengths.sum())
    dynamic = sum(
        int(lengths[i : i + batch_size].max()) * len(lengths[i : i + batch_size])
        for i in range(0, len(lengths), batch_size)
    )
    fixed = max_length * len(lengths)
    return {
        "real_tokens": real,
        "dynamic_tokens": dynamic,
        "fixed_tokens": fixed,
        "dynamic_padding_share": 1 - real / dynamic,
        "fixed_padding_share": 1 - real / fixed,
    }


def length_grouped(lengths: Sequence[int], batch_size: int, megabatch: int = 50) -> list[int]:
    """Lengths reordered as transformers' LengthGroupedSampler groups them (sorted within
    mega-batches of `megabatch` x `batch_size` rows), for counting padding."""
    lengths = list(lengths)
    size = megabatch * batch_size
    out: list[int] = []
    for i in range(0, len(lengths), size):
        out += sorted(lengths[i : i + size], reverse=True)
    return out


def time_training_steps(model: Any, batches: Sequence[dict[str, Any]], repeats: int = 1) -> float:
    """Seconds for forward + backward over `batches` (no optimizer step: weights unchanged)."""
    model.train()
    start = time.perf_counter()
    for _ in range(repeats):
        for batch in batches:
            model(**batch).loss.backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def epoch_table(log_history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per evaluation in a Trainer's log_history: epoch, step, dev loss and accuracy."""
    return [
        {"epoch": round(h["epoch"], 2), "step": h["step"], "dev loss": round(h["eval_loss"], 4),
         "dev accuracy": round(h["eval_accuracy"], 4)}
        for h in log_history if "eval_accuracy" in h
    ]  # fmt: skip


def freeze_encoder(model: Any) -> int:
    """Freeze `model.base_model` (embeddings, layers, pooler); return the trainable count."""
    for parameter in model.base_model.parameters():
        parameter.requires_grad = False
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def family_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The comparison table of a finetune_families.json: ours (mean ± sd), baselines, papers."""
    rows = []
    for row in results["table"]:
        a = row["accuracy"]
        label = row["model"] + (" (random init)" if row["init"] == "random" else "")
        rows.append({
            "model": label, "dev accuracy %": f"{100 * a['mean']:.1f} ± {100 * a['std']:.1f}",
            "seeds": a["n"], "min-max %": f"{100 * a['min']:.1f}-{100 * a['max']:.1f}",
            "train sentences": row["train_examples"], "lr": f"{row['lr']:g}",
            "params (M)": round(row["n_params"] / 1e6, 1), "source": "this course, SST-2 dev",
        })  # fmt: skip
    m = results["majority"]
    rows.append({"model": "majority class", "dev accuracy %": f"{100 * m['accuracy']:.1f}",
                 "source": "this course, SST-2 dev"})  # fmt: skip
    for p in results["published"]:
        rows.append({"model": p["model"], "dev accuracy %": f"{p['accuracy']:.1f}",
                     "source": f"published, SST-2 {p['split']}"})  # fmt: skip
    columns = list(rows[0])  # every row gets every column, as text: one clean table
    return [{c: str(row.get(c, "")) for c in columns} for row in rows]


def batch_size_from_memory(
    free_gib: float | None, per_example_mib: float, cap: int = 256, floor: int = 8
) -> int:
    """The largest power of two batch that fits in half the free memory (None: CPU -> 32)."""
    if free_gib is None:
        return 32
    fits = int(free_gib * 1024 * 0.5 / per_example_mib)
    size = floor
    while size * 2 <= min(fits, cap):
        size *= 2
    return size


def load_results(path: str | Path | None = None, verbose: bool = True) -> dict[str, Any]:
    """The committed comparison: `path`, else RESULTS_FILE in the clone, else from GitHub.

    An installed package without a clone (Colab) reads the file at the pinned ref
    (config.GITHUB_REF), as `electra.load_results` does. Prints which one it read.
    """
    return _load_results(RESULTS_FILE, RERUN_COMMAND, path, verbose)


# ---------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="finetune", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="fine-tune once (1 process, or N under torchrun)")
    t.add_argument("--model", default="course-bert-small", help=f"or {TINY_MODEL}, a folder")
    t.add_argument("--init", default="pretrained", choices=["pretrained", "random"])
    t.add_argument("--budget", default=None, help="ci, cpu or gpu (default: COURSE_BUDGET)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--global-batch", type=int, default=None, help="sentences per step, all ranks")
    t.add_argument("--train-examples", type=int, default=None)
    t.add_argument("--dev-examples", type=int, default=None, help="score only the first N")
    t.add_argument("--max-steps", type=int, default=None)
    t.add_argument("--lr", type=float, default=None)
    t.add_argument("--no-dropout", action="store_true", help="exact multi-process equality")
    t.add_argument("--cpu", action="store_true", help="stay on the CPU even with a GPU")
    t.add_argument("--output-dir", required=True)
    f = sub.add_parser("families", help="write results/finetune_families.json")
    f.add_argument("--budget", default=None)
    f.add_argument("--seeds", type=int, default=None)
    f.add_argument("--out", default="results/finetune_families.json")
    f.add_argument("--online", action="store_true", help="add the pinned Hub base checkpoints")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "train":
            train(args)
        else:
            run_families(args.budget, seeds=args.seeds, out=args.out, online=args.online)
    except CourseError as error:
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
