"""Masked-language-model pretraining for the BERT, RoBERTa, ELECTRA and ALBERT chapters.

Masked LM (Devlin et al. 2019, arXiv:1810.04805, section 3.1): 15% of the positions are targets;
the loss is the cross-entropy of the original token at those positions only. RoBERTa (Liu et al.
2019, arXiv:1907.11692) keeps the objective and the architecture and changes the recipe.

Why a course loop and not `model(**batch, labels=...)`: the stock heads project EVERY position onto
the whole vocabulary and then ignore 85% of them in the loss. For a small model that projection is
most of the compute, so `masked_lm_loss` applies the MLM head at the target positions only, and
runs the encoder's last layer there only too (its other rows feed nothing). Loss and gradients
are the same (tests/test_mlm.py); scripts/benchmark_mlm.py measures the speed-up.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertConfig, RobertaConfig, get_linear_schedule_with_warmup

from course_utils.budget import (
    SMOKE_EVAL_BATCHES,
    SMOKE_STEPS,
    Budget,
    expected_seconds,
    get_budget,
    smoke_test,
)
from course_utils.device import autocast, get_device, needs_grad_scaler
from course_utils.masking import IGNORE_INDEX, mask_tokens
from course_utils.seed import seed_everything

_ENCODER_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids")


# ---------------------------------------------------------------- model sizes


@dataclass(frozen=True)
class ModelSize:
    """Encoder shape: hidden size H, layers L, heads A, feed-forward size, block length."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    block: int


#: Sizes per budget: cpu is BERT-Tiny (L2/H128/A2) and gpu BERT-Mini (L4/H256/A4) of Turc et al.
#: 2019 (arXiv:1908.08962), so that a cpu pretraining run fits a laptop (the course-bert-small
#: build: 16.4M tokens in 829 s on 2 shared cores, ~20k tokens/s, metrics.json). BERT-base is
#: L12/H768/A12, FFN 3072, 512 positions.
SIZES: dict[str, ModelSize] = {
    "ci": ModelSize(hidden=64, layers=2, heads=2, ffn=256, block=64),
    "cpu": ModelSize(hidden=128, layers=2, heads=2, ffn=512, block=128),
    "gpu": ModelSize(hidden=256, layers=4, heads=4, ffn=1024, block=128),
}


def _budget(budget: Budget | str | None) -> Budget:
    return budget if isinstance(budget, Budget) else get_budget(budget)


def model_size(budget: Budget | str | None = None) -> ModelSize:
    """The encoder shape for a budget ("ci", "cpu", "gpu"; None = the session's budget)."""
    b = _budget(budget)
    return b.pick(ci=SIZES["ci"], cpu=SIZES["cpu"], gpu=SIZES["gpu"])


def forward_flops_per_token(
    size: ModelSize, vocab_size: int, mlm_probability: float = 0.15
) -> float:
    """Forward FLOPs per input token of a BERT-style encoder with the course's MLM loss.

    Counted by `course_utils.flops` (its conventions: matmuls only, the head and the last layer
    at the `mlm_probability` targets, as `masked_lm_loss` runs them), on a full block.
    """
    from course_utils.flops import EncoderShape, forward_flops

    shape = EncoderShape(
        vocab=vocab_size,
        embedding=size.hidden,
        hidden=size.hidden,
        layers=size.layers,
        heads=size.heads,
        ffn=size.ffn,
    )
    total = forward_flops(shape, size.block, "mlm", mlm_probability=mlm_probability)["total"]
    return total / size.block


def train_flops(size: ModelSize, vocab_size: int, batch_size: int) -> float:
    """FLOPs of one optimizer step on `batch_size` full blocks: backward = 2 x forward."""
    return 3 * forward_flops_per_token(size, vocab_size) * batch_size * size.block


def _check_vocab(vocab_size: int) -> None:
    if not isinstance(vocab_size, int) or vocab_size < 8:
        raise ValueError(f"vocab_size must be an int >= 8, got {vocab_size!r}")


def init_range(hidden: int) -> float:
    """Std of the course encoders' initial weights: 1/sqrt(H), rounded to 3 decimals.

    BERT's 0.02 (Devlin et al. 2019) suits H=768 (1/sqrt(768) = 0.036 is of that order). At H=128
    it makes the attention logits ~0.05: every head attends uniformly, the gradients of the query
    and key matrices are proportional to each other's tiny weights, and masked LM sits on the
    unigram plateau for thousands of steps (course-bert-small at 0.02: 8.8% accuracy at [MASK]
    after 4,000 steps, the majority token 5.5%). With 1/sqrt(H) the logits start near 1 and the
    plateau ends within ~900 steps (results/pretraining_sweep.md).
    """
    return round(hidden**-0.5, 3)


def encoder_sizes(vocab_size: int, budget: Budget | str | None) -> dict[str, Any]:
    """The config fields that the course's BERT, RoBERTa, ELECTRA and ALBERT share, by budget.

    Besides the shape: initial weights with std `init_range(H)` (not BERT's 0.02) and no dropout.
    Dropout fights over-fitting, which a tiny model that sees WikiText-2 a few times does not
    suffer (its held-out loss stays below its training loss), and it costs a third of a CPU step
    (results/pretraining_sweep.md); Geiping & Goldstein 2022 (cramming) also drop it for short
    budgets (arXiv:2212.14034). Fine-tuning keeps these values (pretrained and random init alike).
    """
    _check_vocab(vocab_size)
    size = model_size(budget)
    return dict(
        vocab_size=vocab_size,
        hidden_size=size.hidden,
        num_hidden_layers=size.layers,
        num_attention_heads=size.heads,
        intermediate_size=size.ffn,
        # a learned position table as long as the blocks we train on: longer inputs would hit
        # untrained rows anyway
        max_position_embeddings=size.block,
        initializer_range=init_range(size.hidden),
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )


def small_bert_config(
    vocab_size: int, budget: Budget | str | None = None, **overrides: Any
) -> BertConfig:
    """A BertConfig (Devlin et al. 2019) sized by the budget; `overrides` win over the sizes."""
    kwargs = encoder_sizes(vocab_size, budget)
    kwargs["type_vocab_size"] = 2  # segments A/B, as BERT (kept for NSP and fine-tuning)
    kwargs.update(overrides)
    return BertConfig(**kwargs)


def small_roberta_config(
    vocab_size: int,
    budget: Budget | str | None = None,
    pad_token_id: int = 1,
    bos_token_id: int = 0,
    eos_token_id: int = 2,
    **overrides: Any,
) -> RobertaConfig:
    """A RobertaConfig (Liu et al. 2019) sized by the budget, with roberta-base's conventions.

    As the real checkpoint (not RobertaConfig()'s defaults): max_position_embeddings = block + 2
    since RoBERTa numbers positions from padding_idx + 1 = 2; one segment type; LayerNorm eps 1e-5.
    """
    kwargs = encoder_sizes(vocab_size, budget)
    for name, value in (("pad", pad_token_id), ("bos", bos_token_id), ("eos", eos_token_id)):
        if not 0 <= value < vocab_size:
            raise ValueError(f"{name}_token_id={value} is outside the vocabulary (0..{vocab_size})")
    kwargs.update(
        max_position_embeddings=kwargs["max_position_embeddings"] + pad_token_id + 1,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=pad_token_id,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
    )
    kwargs.update(overrides)
    return RobertaConfig(**kwargs)


# ---------------------------------------------------------------- the loss


@dataclass
class MLMOutput:
    """Loss (mean over targets), logits (n_targets, vocab) and labels (n_targets,) at targets."""

    loss: torch.Tensor
    logits: torch.Tensor
    labels: torch.Tensor


def mlm_parts(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """(encoder, MLM head) of a transformers *ForMaskedLM model: BERT, RoBERTa, ALBERT, ELECTRA."""
    encoder = getattr(model, "base_model", None)
    if encoder is None or encoder is model:
        raise ValueError(f"{type(model).__name__} has no base_model: pass a *ForMaskedLM model")
    for name in ("cls", "lm_head", "predictions"):  # BERT, RoBERTa, ALBERT
        head = getattr(model, name, None)
        if isinstance(head, nn.Module):
            return encoder, head
    if hasattr(model, "generator_predictions"):  # ELECTRA's generator: transform, then decoder
        return encoder, nn.Sequential(model.generator_predictions, model.generator_lm_head)
    raise ValueError(
        f"Unsupported model {type(model).__name__}: expected a MLM head named cls, lm_head, "
        "predictions or generator_predictions"
    )


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _layers_by_parts(encoder: nn.Module) -> nn.ModuleList | None:
    """The encoder's layers if they are BERT-style blocks that we can run piece by piece.

    BERT, RoBERTa and ELECTRA layers have attention.self.{query,key,value}, attention.output,
    intermediate and output; ALBERT (shared layer groups) does not and runs whole.
    """
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList) or len(layers) == 0:
        return None
    last = layers[-1]
    parts = ("attention.self.query", "attention.self.key", "attention.self.value")
    parts += ("attention.output", "intermediate", "output")
    try:
        for part in parts:
            last.get_submodule(part)
    except AttributeError:
        return None
    return None if getattr(last, "is_decoder", False) else layers


def _last_layer_at_targets(
    layer: nn.Module, hidden: torch.Tensor, where: torch.Tensor, keep: torch.Tensor | None
) -> torch.Tensor:
    """One BERT layer, computed only for the rows the MLM head reads: (n_targets, H).

    Keys and values come from every position (a target attends to its whole block); queries, the
    attention output, the residuals and the feed-forward block are computed at targets only.
    `keep` (B, 1, 1, L) is True at the keys that may be attended to (None: all).
    """
    attn = layer.attention.self
    batch, _, width = hidden.shape
    heads, head_dim = attn.num_attention_heads, attn.attention_head_size
    rows, cols = where.nonzero(as_tuple=True)
    slot = (where.cumsum(1) - 1)[rows, cols]  # index of a target among its row's targets
    x = hidden[rows, cols]  # (n_targets, H): the residual stream at the targets
    # queries padded to (B, max targets per row, H): one attention call for the whole batch
    q = attn.query(x)  # under autocast q is float16/bfloat16 while x is float32
    query = q.new_zeros(batch, int(slot.max()) + 1, width)
    query[rows, slot] = q

    def split(t: torch.Tensor) -> torch.Tensor:  # (B, T, H) -> (B, heads, T, head_dim)
        return t.view(batch, -1, heads, head_dim).transpose(1, 2)

    context = F.scaled_dot_product_attention(
        split(query),
        split(attn.key(hidden)),
        split(attn.value(hidden)),
        attn_mask=keep,
        dropout_p=attn.dropout.p if attn.training else 0.0,
        scale=getattr(attn, "scaling", None),
    )
    context = context.transpose(1, 2).reshape(batch, -1, width)[rows, slot]
    attended = layer.attention.output(context, x)  # dense, dropout, LayerNorm(. + x)
    return layer.output(layer.intermediate(attended), attended)


def hidden_at_targets(
    encoder: nn.Module, inputs: Mapping[str, torch.Tensor], where: torch.Tensor
) -> torch.Tensor:
    """Final hidden states at the positions in `where` (B, L) only: (n_targets, H).

    All layers but the last run on every position, exactly as the model's own forward. The last
    one runs by parts at the targets (`_last_layer_at_targets`): nothing downstream reads its
    other rows. Encoders whose layers cannot run by parts (ALBERT) run whole, then index.
    """
    layers = _layers_by_parts(encoder)
    if layers is None:
        return encoder(**inputs).last_hidden_state[where]
    hidden = encoder.embeddings(
        input_ids=inputs["input_ids"],
        token_type_ids=inputs.get("token_type_ids"),
        position_ids=inputs.get("position_ids"),
    )
    if hasattr(encoder, "embeddings_project"):  # ELECTRA when embedding size != hidden size
        hidden = encoder.embeddings_project(hidden)
    pad = inputs.get("attention_mask")
    mask = keep = None  # None: no padding, every key counts
    if pad is not None and not bool(pad.all()):
        keep = pad[:, None, None, :].bool()  # (B, 1, 1, L), True = a real token
        # the layers' own attention code (eager or sdpa) takes an additive mask
        mask = (~keep).to(hidden.dtype) * torch.finfo(hidden.dtype).min
    for layer in layers[:-1]:
        hidden = layer(hidden, mask)
    return _last_layer_at_targets(layers[-1], hidden, where, keep)


def masked_lm_loss(
    model: nn.Module, batch: Mapping[str, torch.Tensor], last_layer_at_targets: bool = True
) -> MLMOutput:
    """The MLM loss with the vocabulary projection computed at target positions only.

    `batch` holds input_ids, labels (IGNORE_INDEX = not a target) and optionally attention_mask,
    token_type_ids, position_ids. Equal to `model(**batch).loss` of the stock head. With
    `last_layer_at_targets` the encoder's last layer also runs at the targets only (see
    `hidden_at_targets`); False runs the whole encoder and then indexes. A batch with no target
    gives loss 0 (still attached to the graph) where the stock loss would be NaN.
    """
    if "input_ids" not in batch or "labels" not in batch:
        raise ValueError(f"batch needs input_ids and labels, got keys {sorted(batch)}")
    labels = batch["labels"]
    if labels.shape != batch["input_ids"].shape:
        raise ValueError(
            f"labels {tuple(labels.shape)} and input_ids {tuple(batch['input_ids'].shape)} differ"
        )
    encoder, head = mlm_parts(model)
    device = _device_of(model)
    inputs = {k: batch[k].to(device) for k in _ENCODER_INPUTS if batch.get(k) is not None}
    labels = labels.to(device)
    where = labels != IGNORE_INDEX
    targets = labels[where]
    if targets.numel() == 0:
        logits = head(encoder(**inputs).last_hidden_state[where])  # (0, V)
        return MLMOutput(loss=logits.sum() * 0.0, logits=logits, labels=targets)
    if last_layer_at_targets:
        hidden = hidden_at_targets(encoder, inputs, where)  # (n_targets, H)
    else:
        hidden = encoder(**inputs).last_hidden_state[where]  # (B, L, H) -> (n_targets, H)
    logits = head(hidden)  # (n_targets, V): the vocabulary projection at targets only
    loss = F.cross_entropy(logits.float(), targets)  # float: stable under fp16 autocast
    return MLMOutput(loss=loss, logits=logits, labels=targets)


def full_vocab_loss(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> MLMOutput:
    """The stock loss, `model(**batch).loss`: the head projects every position (for comparison)."""
    device = _device_of(model)
    inputs = {k: batch[k].to(device) for k in _ENCODER_INPUTS if batch.get(k) is not None}
    labels = batch["labels"].to(device)
    out = model(**inputs, labels=labels)
    where = labels != IGNORE_INDEX
    return MLMOutput(loss=out.loss, logits=out.logits[where], labels=labels[where])


LossFn = Callable[[nn.Module, Mapping[str, torch.Tensor]], MLMOutput]


# ---------------------------------------------------------------- evaluation


def _mask_fixed(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    tokenizer: Any,
    mlm_probability: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training's 80-10-10 masking (`mask_tokens`), drawn from `generator` only (no global RNG)."""
    inputs, labels = mask_tokens(
        input_ids, tokenizer, mlm_probability=mlm_probability, generator=generator
    )
    if attention_mask is not None:
        labels = labels.masked_fill(attention_mask == 0, IGNORE_INDEX)
    return inputs, labels


def _blocks(blocks: Mapping[str, torch.Tensor] | torch.Tensor) -> dict[str, torch.Tensor]:
    if isinstance(blocks, torch.Tensor):
        blocks = {"input_ids": blocks}
    if "input_ids" not in blocks:
        raise ValueError(f"blocks need input_ids, got keys {sorted(blocks)}")
    ids = torch.as_tensor(blocks["input_ids"])
    if ids.ndim != 2 or ids.shape[0] == 0:
        raise ValueError(f"blocks' input_ids must be a non-empty (N, L) tensor, got {ids.shape}")
    out = {"input_ids": ids}
    if blocks.get("attention_mask") is not None:
        out["attention_mask"] = torch.as_tensor(blocks["attention_mask"])
    return out


def make_eval_batches(
    valid_blocks: Mapping[str, torch.Tensor] | torch.Tensor,
    tokenizer: Any,
    batch_size: int,
    seed: int = 1234,
    mlm_probability: float = 0.15,
) -> list[dict[str, torch.Tensor]]:
    """Mask ALL validation blocks once with a fixed seed: every model sees the same targets."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if getattr(tokenizer, "mask_token_id", None) is None:
        raise ValueError("the tokenizer has no mask token: masked LM needs one")
    blocks = _blocks(valid_blocks)
    generator = torch.Generator().manual_seed(seed)
    mask = blocks.get("attention_mask")
    inputs, labels = _mask_fixed(blocks["input_ids"], mask, tokenizer, mlm_probability, generator)
    if mask is None:
        mask = torch.ones_like(inputs)
    return [
        {"input_ids": ids, "attention_mask": m, "labels": lab}
        for ids, m, lab in zip(
            inputs.split(batch_size), mask.split(batch_size), labels.split(batch_size), strict=True
        )
    ]


@torch.no_grad()
def evaluate_batches(
    model: nn.Module, batches: Iterable[Mapping[str, torch.Tensor]]
) -> dict[str, float]:
    """Loss, accuracy and perplexity = exp(mean loss) over ALL targets of pre-masked batches."""
    was_training = model.training
    model.eval()
    total_loss, correct, n = 0.0, 0, 0
    if smoke_test():  # COURSE_SMOKE=1: a few batches, to exercise the code only
        batches = itertools.islice(batches, SMOKE_EVAL_BATCHES)
    try:
        for batch in batches:
            with autocast(_device_of(model)):
                out = masked_lm_loss(model, batch)
            k = out.labels.numel()
            if k:
                # sum, not mean of means: batches have different numbers of targets
                loss_sum = F.cross_entropy(out.logits.float(), out.labels, reduction="sum")
                total_loss += loss_sum.item()
                correct += (out.logits.argmax(-1) == out.labels).sum().item()
                n += k
    finally:
        model.train(was_training)
    if n == 0:
        raise ValueError("no masked targets in the evaluation batches")
    loss = total_loss / n
    return {"loss": loss, "accuracy": correct / n, "perplexity": math.exp(loss), "n_targets": n}


def accuracy_by_target_kind(
    model: nn.Module, batches: Iterable[Mapping[str, torch.Tensor]], mask_token_id: int
) -> dict[str, dict[str, float]]:
    """Accuracy split by what the model was shown at each target: mask token, random, unchanged.

    The 10% of targets left unchanged can be solved by copying the input, so overall accuracy can
    look good while the model learned little from context; the `[MASK]` row is the honest one.
    (A random replacement that happens to equal the original counts as unchanged.)
    """
    was_training = model.training
    model.eval()
    counts = {kind: [0, 0] for kind in ("mask token", "random token", "unchanged")}
    if smoke_test():
        batches = itertools.islice(batches, SMOKE_EVAL_BATCHES)
    try:
        with torch.no_grad():
            for batch in batches:
                with autocast(_device_of(model)):
                    out = masked_lm_loss(model, batch)
                shown = batch["input_ids"][batch["labels"] != IGNORE_INDEX].to(out.labels.device)
                hit = out.logits.argmax(-1) == out.labels
                kinds = {
                    "mask token": shown == mask_token_id,
                    "random token": (shown != mask_token_id) & (shown != out.labels),
                    "unchanged": shown == out.labels,
                }
                for kind, where in kinds.items():
                    counts[kind][0] += int(hit[where].sum())
                    counts[kind][1] += int(where.sum())
    finally:
        model.train(was_training)
    return {
        kind: {"accuracy": c / n if n else float("nan"), "n_targets": n}
        for kind, (c, n) in counts.items()
    }


def evaluate_mlm(
    model: nn.Module,
    valid_blocks: Mapping[str, torch.Tensor] | torch.Tensor,
    tokenizer: Any,
    batch_size: int = 64,
    seed: int = 1234,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Masked-token loss / accuracy / perplexity on the complete validation split.

    The masks come from a fixed generator seed, so two models (or one model at two steps) are
    scored on the very same positions and the numbers are comparable.
    """
    if device is not None:
        model.to(device)
    return evaluate_batches(model, make_eval_batches(valid_blocks, tokenizer, batch_size, seed))


def _targets(targets: torch.Tensor | Iterable[Mapping[str, torch.Tensor]]) -> torch.Tensor:
    if isinstance(targets, torch.Tensor):
        flat = targets.flatten()
    else:
        flat = torch.cat([b["labels"].flatten() for b in targets])
    flat = flat[flat != IGNORE_INDEX]
    if flat.numel() == 0:
        raise ValueError("no targets (all labels are -100)")
    return flat


def majority_baseline(
    train_blocks: Mapping[str, torch.Tensor] | torch.Tensor,
    targets: torch.Tensor | Iterable[Mapping[str, torch.Tensor]],
    vocab_size: int | None = None,
    exclude_ids: Iterable[int] = (),
) -> dict[str, float]:
    """Two no-model baselines for masked-token prediction, from training token counts.

    accuracy: always predict the most frequent training token. loss / perplexity: predict the
    unigram distribution (add-one smoothed so unseen targets have finite loss). `targets` are
    label tensors (-100 ignored) or evaluation batches (e.g. from make_eval_batches);
    `exclude_ids` (special tokens) are never predicted.
    """
    blocks = _blocks(train_blocks)
    ids = blocks["input_ids"]
    if "attention_mask" in blocks:
        ids = ids[blocks["attention_mask"].bool()]
    ids = ids.flatten()
    target_ids = _targets(targets)
    size = vocab_size or int(max(ids.max().item(), target_ids.max().item())) + 1
    counts = torch.bincount(ids, minlength=size).double()
    excluded = torch.tensor(sorted(set(exclude_ids)), dtype=torch.long)
    counts[excluded] = 0.0
    top = int(counts.argmax().item())
    probs = (counts + 1.0) / (counts + 1.0).sum()
    loss = -probs[target_ids].log().mean().item()
    return {
        "accuracy": (target_ids == top).double().mean().item(),
        "loss": loss,
        "perplexity": math.exp(loss),
        "n_targets": int(target_ids.numel()),
        "majority_token_id": top,
    }


# ---------------------------------------------------------------- training


@dataclass
class TrainConfig:
    """Hyper-parameters of `train_mlm`. BERT: AdamW, lr 1e-4, warmup 10k, wd 0.01, clip 1.0."""

    steps: int
    batch_size: int
    lr: float = 5e-4  # small models tolerate (and need, in few steps) more than BERT-base's 1e-4
    warmup_steps: int = 0
    weight_decay: float = 0.01
    max_grad_norm: float | None = 1.0
    eval_every: int = 0  # 0: evaluate once, at the end
    seed: int = 0
    log_every: int = 10
    adam_betas: tuple[float, float] = (0.9, 0.999)  # RoBERTa uses (0.9, 0.98) for large batches
    adam_eps: float = 1e-6

    def __post_init__(self) -> None:
        if self.steps <= 0 or self.batch_size <= 0:
            raise ValueError(
                f"steps and batch_size must be positive, got {self.steps}, {self.batch_size}"
            )
        if not 0 <= self.warmup_steps <= self.steps:
            raise ValueError(f"warmup_steps={self.warmup_steps} must be in 0..steps={self.steps}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.eval_every < 0 or self.log_every <= 0:
            raise ValueError("eval_every must be >= 0 and log_every > 0")

    @classmethod
    def for_budget(cls, budget: Budget | str | None = None, **overrides: Any) -> TrainConfig:
        """Steps, batch and learning rate for a budget (the course checkpoints use these).

        ci: seconds (tests); cpu: 4000 x 32 blocks of 128 tokens (~16M tokens, ~7 epochs of
        WikiText-2), about 10 minutes of training on 2 CPU cores with the course loss and no
        dropout (course-bert-small's metrics.json). lr 2e-3: in 400-step runs it beat 1e-3 and
        5e-3 stayed on the plateau; with `init_range` it leaves the plateau by step 900
        (results/pretraining_sweep.md); gpu: 6000 x 128 blocks of BERT-Mini (~98M tokens), sized
        so that chapter 2 finishes within 15 minutes on a free Colab T4: `expected_seconds` gives
        ~4-5 minutes of training under the T4 assumption in `budget.THROUGHPUT`, leaving room for
        it to be off by a factor of two.
        """
        kwargs: dict[str, Any] = _budget(budget).pick(
            ci=dict(steps=20, batch_size=8, lr=1e-3, warmup_steps=2, eval_every=10),
            cpu=dict(steps=4000, batch_size=32, lr=2e-3, warmup_steps=200, eval_every=500),
            gpu=dict(steps=6000, batch_size=128, lr=5e-4, warmup_steps=300, eval_every=1000),
        )
        kwargs.update(overrides)
        return cls(**kwargs)

    def expected_seconds(
        self,
        size: ModelSize,
        vocab_size: int,
        runs: int = 1,
        eval_tokens: int = 0,
        device: torch.device | str | None = None,
    ) -> float:
        """Estimated seconds of `runs` training runs with this config on `device` (default: the
        session's), each evaluating `eval_tokens` tokens every `eval_every` steps and at the end.

        FLOPs from `train_flops`, speed from `budget.THROUGHPUT` (a stated T4 figure on CUDA,
        a measured one on CPU). For `Budget.announce`, before a long training cell.
        """
        steps = min(self.steps, SMOKE_STEPS) if smoke_test() else self.steps
        evals = (steps // self.eval_every if self.eval_every else 0) + 1
        flops = steps * train_flops(size, vocab_size, self.batch_size)
        flops += evals * eval_tokens * forward_flops_per_token(size, vocab_size)
        return runs * expected_seconds(flops, steps, device)


@dataclass
class History:
    """What happened during `train_mlm`; `evals` rows hold step, loss, accuracy, perplexity."""

    config: dict[str, Any]
    n_params: int
    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    tokens_seen: list[int] = field(default_factory=list)  # cumulative non-padding input tokens
    evals: list[dict[str, float]] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)  # per optimizer step, no evaluation
    wall_time: float = 0.0  # seconds of training, evaluation included

    @property
    def final_eval(self) -> dict[str, float] | None:
        return self.evals[-1] if self.evals else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def optimizer_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: decay on weight matrices, none on biases and LayerNorm weights (as BERT)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        # every 1-d parameter is a bias or a LayerNorm gain; embeddings and matrices are 2-d
        (no_decay if param.ndim < 2 or "LayerNorm" in name else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


Validator = Callable[[nn.Module], Mapping[str, float]]


def _validator(valid: Validator | Iterable[Mapping[str, torch.Tensor]] | None) -> Validator | None:
    if valid is None or callable(valid):
        return valid
    batches = list(valid)  # pre-masked batches (make_eval_batches): fixed targets
    if not batches:
        raise ValueError("valid is empty")
    return lambda model: evaluate_batches(model, batches)


def _batch_stream(batches: Iterable[Mapping[str, torch.Tensor]]) -> Iterator[Any]:
    """Yield batches forever: restart re-iterable sources (a DataLoader = a new epoch)."""
    if iter(batches) is batches:  # an iterator/generator: cannot restart it
        yield from batches
        return
    for epoch in itertools.count():
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            raise ValueError(f"the batch source is empty (epoch {epoch})")


def train_mlm(
    model: nn.Module,
    batches: Iterable[Mapping[str, torch.Tensor]],
    config: TrainConfig,
    valid: Validator | Iterable[Mapping[str, torch.Tensor]] | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    loss_fn: LossFn = masked_lm_loss,
) -> History:
    """Pretrain `model` with masked LM on `batches` for `config.steps` optimizer steps.

    `batches` yields dicts with input_ids, attention_mask, labels (-100 = not a target), e.g. a
    DataLoader with DynamicMaskingCollator (RoBERTa's dynamic masking) or StaticMaskedDataset
    (BERT's static masking); a re-iterable source restarts when exhausted. `valid` is a callable
    model -> metrics, or pre-masked batches (make_eval_batches). AdamW without decay on biases and
    LayerNorm, linear warmup then linear decay, gradient clipping, autocast on GPUs. `loss_fn`
    (default masked_lm_loss) can be full_vocab_loss to measure what the shortcut saves.
    """
    from tqdm.auto import tqdm

    if smoke_test() and config.steps > SMOKE_STEPS:
        scale = SMOKE_STEPS / config.steps
        config = replace(
            config,
            steps=SMOKE_STEPS,
            warmup_steps=round(config.warmup_steps * scale),
            eval_every=0,  # evaluate once, at the end
        )
        print(f"COURSE_SMOKE=1: training {SMOKE_STEPS} steps only (a smoke test)", flush=True)
    seed_everything(config.seed)  # dropout (and any masking on the global RNG) from the seed
    device = torch.device(device) if device is not None else get_device()
    model.to(device).train()
    validate = _validator(valid)
    optimizer = torch.optim.AdamW(
        optimizer_groups(model, config.weight_decay),
        lr=config.lr,
        betas=config.adam_betas,
        eps=config.adam_eps,
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, config.warmup_steps, config.steps)
    # float16 needs loss scaling against underflowing gradients; bfloat16 and float32 do not.
    # Tied to the dtype, not the device: whatever trains in float16 gets a scaler.
    scaler = torch.amp.GradScaler(device.type, enabled=needs_grad_scaler(device))
    history = History(config=asdict(config), n_params=sum(p.numel() for p in model.parameters()))
    stream = _batch_stream(batches)
    tokens = 0
    start = time.perf_counter()
    bar = tqdm(range(1, config.steps + 1), desc="MLM", disable=not progress)
    for step in bar:
        t0 = time.perf_counter()
        try:
            batch = next(stream)
        except StopIteration:
            raise ValueError(
                f"the batch iterator ran out at step {step} of {config.steps}: pass a re-iterable "
                "source (a DataLoader) or an endless iterator"
            ) from None
        with autocast(device):
            loss = loss_fn(model, batch).loss
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if config.max_grad_norm:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        mask = batch.get("attention_mask")
        tokens += int(mask.sum()) if mask is not None else batch["input_ids"].numel()
        history.steps.append(step)
        history.train_loss.append(loss.item())  # .item() syncs the GPU: step time is honest
        history.step_seconds.append(time.perf_counter() - t0)
        history.lr.append(scheduler.get_last_lr()[0])
        history.tokens_seen.append(tokens)
        if step % config.log_every == 0 or step == config.steps:
            bar.set_postfix(loss=f"{loss.item():.3f}")
        last = step == config.steps
        if validate is not None and (last or (config.eval_every and step % config.eval_every == 0)):
            metrics = dict(validate(model))
            model.train()
            row = {"step": step, "tokens_seen": tokens, **metrics}
            row["wall_time"] = time.perf_counter() - start
            history.evals.append(row)
            bar.set_postfix(loss=f"{loss.item():.3f}", eval_loss=f"{metrics['loss']:.3f}")
    history.wall_time = time.perf_counter() - start
    return history


def unigram_counts(blocks: Mapping[str, torch.Tensor] | torch.Tensor) -> Counter[int]:
    """Token frequencies of (non-padding) block tokens: the data behind majority_baseline."""
    b = _blocks(blocks)
    ids = b["input_ids"][b["attention_mask"].bool()] if "attention_mask" in b else b["input_ids"]
    return Counter(ids.flatten().tolist())
