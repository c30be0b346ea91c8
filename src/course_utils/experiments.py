"""Controlled experiments of the course chapters, each returning tidy pandas tables.

`run_masking_experiment` is the static-vs-dynamic masking comparison of the RoBERTa chapter
(Liu et al. 2019, arXiv:1907.11692, Section 4.1, Table 1), at a scale that fits on a laptop:
the same model configuration, training blocks, optimizer settings, number of steps and seeds
for every condition; only the way the 15% masks are drawn changes.

- static, `copies=k`: `StaticMaskedDataset` draws k masks per block once, before training, and
  every epoch reuses them (BERT's preprocessing used k=10 copies);
- dynamic: `DynamicMaskingCollator` draws a fresh mask every time a block is put in a batch.

For a given seed every condition starts from the same initial weights and gets its own masks
and data order from that seed, so the comparison is paired. Every model is scored on the same
pre-masked evaluation batches (`mlm.make_eval_batches`), so the numbers are comparable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from .masking import DynamicMaskingCollator, StaticMaskedDataset
from .mlm import TrainConfig, evaluate_batches, train_mlm

#: Conditions of the chapter: name -> number of static copies, or None for dynamic masking.
DEFAULT_CONDITIONS: dict[str, int | None] = {"static (1 copy)": 1, "dynamic": None}


@dataclass
class MaskingResults:
    """`final`: one row per (condition, seed) with the last evaluation; `curves`: every
    evaluation, columns condition, seed, step, loss, accuracy, epochs (passes over the blocks)."""

    final: pd.DataFrame
    curves: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        """Mean and standard deviation (ddof=1) over seeds of the final loss and accuracy."""
        return summarize(self.final)


def summarize(final: pd.DataFrame) -> pd.DataFrame:
    """Per condition: mean and sample std over seeds of loss and accuracy, and the seed count."""
    grouped = final.groupby("condition", sort=False)
    out = grouped[["loss", "accuracy"]].agg(["mean", "std"])
    out.columns = [f"{metric} {stat}" for metric, stat in out.columns]
    out["seeds"] = grouped.size()
    return out


def masking_loader(
    blocks: Mapping[str, torch.Tensor],
    tokenizer: Any,
    batch_size: int,
    seed: int,
    copies: int | None,
) -> DataLoader:
    """A shuffling DataLoader of masked batches: static with `copies` masks per block, or
    dynamic (`copies=None`). Masks and order both come from `seed`."""
    order = torch.Generator().manual_seed(seed)
    if copies is None:
        plain = [
            {"input_ids": ids, "attention_mask": am}
            for ids, am in zip(blocks["input_ids"], blocks["attention_mask"], strict=True)
        ]
        collator = DynamicMaskingCollator(tokenizer, seed=seed)
        return DataLoader(
            plain, batch_size=batch_size, shuffle=True, generator=order, collate_fn=collator
        )
    if copies < 1:
        raise ValueError(f"copies must be >= 1 (or None for dynamic masking), got {copies}")
    dataset = StaticMaskedDataset(blocks, tokenizer, copies=copies, seed=seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=order)


def run_masking_experiment(
    make_model: Callable[[], nn.Module],
    train_blocks: Mapping[str, torch.Tensor],
    tokenizer: Any,
    eval_batches: Sequence[Mapping[str, torch.Tensor]],
    config: TrainConfig,
    seeds: Iterable[int] = (0, 1, 2),
    conditions: Mapping[str, int | None] | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = print,
) -> MaskingResults:
    """Train one model per (condition, seed) and evaluate each on the same `eval_batches`.

    `make_model()` builds a fresh model; it is called right after `torch.manual_seed(seed)`, so
    for one seed all conditions start from identical weights. `config` fixes steps, batch size,
    learning rate and `eval_every` for every run (its seed is replaced by the run's seed).
    `conditions` maps a name to a number of static copies, or None for dynamic masking
    (default `DEFAULT_CONDITIONS`). `log` prints one line per run (None: silent).
    """
    conditions = dict(DEFAULT_CONDITIONS if conditions is None else conditions)
    if not conditions:
        raise ValueError("conditions is empty")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds is empty")
    n_blocks = len(train_blocks["input_ids"])

    def validate(model: nn.Module) -> dict[str, float]:
        with torch.no_grad():
            return evaluate_batches(model, eval_batches)

    final_rows, curve_rows = [], []
    for name, copies in conditions.items():
        for seed in seeds:
            torch.manual_seed(seed)
            model = make_model()
            loader = masking_loader(train_blocks, tokenizer, config.batch_size, seed, copies)
            history = train_mlm(
                model, loader, replace(config, seed=seed), valid=validate, progress=progress
            )
            for row in history.evals:
                curve_rows.append(
                    {
                        "condition": name,
                        "seed": seed,
                        "step": int(row["step"]),
                        "epochs": row["step"] * config.batch_size / n_blocks,
                        "loss": row["loss"],
                        "accuracy": row["accuracy"],
                    }
                )
            last = history.evals[-1]
            final_rows.append(
                {
                    "condition": name,
                    "seed": seed,
                    "loss": last["loss"],
                    "accuracy": last["accuracy"],
                    "train loss": history.train_loss[-1] if history.train_loss else float("nan"),
                    "seconds": history.wall_time,
                }
            )
            if log is not None:
                log(
                    f"{name:>18s}  seed {seed}: held-out loss {last['loss']:.3f}, "
                    f"accuracy {last['accuracy']:.3f} ({history.wall_time:.0f} s)"
                )
    return MaskingResults(final=pd.DataFrame(final_rows), curves=pd.DataFrame(curve_rows))
