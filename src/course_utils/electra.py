"""ELECTRA pretraining: replaced-token detection (Clark et al. 2020, arXiv:2003.10555).

A small masked-LM *generator* (`ElectraForMaskedLM`) fills the selected positions with tokens
sampled from its softmax; a *discriminator* (`ElectraForPreTraining`) labels EVERY token of the
result as original or replaced. As in the paper and google-research/electra (`run_pretraining.py`,
`pretrain/pretrain_helpers.py`, `configure_pretraining.py`):

- 15% of the positions are selected (`MASK_PROB`). The generator's input has `[MASK]` at 85% of
  them and the original token at the other 15%; no random tokens (`MASK_REPLACE_PROB`,
  `RANDOM_REPLACE_PROB`). Why not BERT's 80-10-10: BERT's 10% random tokens exist so that the
  model that is later fine-tuned does not learn to trust every visible token; here the model
  fine-tuned later is the discriminator, which never sees `[MASK]` and sees plenty of wrong
  tokens (the generator's samples), while the generator is discarded. The official code keeps
  15% of the selected tokens unchanged; it does not document why (the course's reading: the
  generator still gets some targets whose own token it can see, as in BERT).
- Replacements are sampled from the generator's softmax at the selected positions with no
  gradient through the sample (the official code wraps it in `tf.stop_gradient`; here the sample
  is an integer tensor, so no gradient can flow). ELECTRA is therefore NOT a GAN: the generator
  is trained by maximum likelihood only; the discriminator's loss never reaches it (except
  through the shared embeddings, which both models use).
- A sampled token equal to the original is labelled *original* (label 0), not replaced.
- Loss = L_MLM(generator) + 50 * L_Disc, with L_Disc the binary cross-entropy averaged over all
  non-padding tokens (`DISC_WEIGHT`, the paper's lambda, a tuned value). Why so large, in the
  course's reading: the MLM loss is several nats per target, while the detection loss is a
  fraction of a nat per token once most tokens are easily seen to be original; without the
  weight the shared embeddings would be trained almost only by the generator.
- Generator and discriminator share the whole embedding block: token, position and segment
  embeddings and their LayerNorm (the official code builds both under one "electra/embeddings"
  scope); the generator's hidden size is 1/4 of the discriminator's (`GENERATOR_FRACTION`), its
  depth the same, its feed-forward 4 x hidden and max(1, hidden / 64) heads.
- After pretraining only the discriminator is kept.

Differences from the official code, stated: positions are selected by independent 15% Bernoulli
draws per eligible token (as `course_utils.masking` and transformers' collator), not a fixed
count round(0.15 x length) drawn with replacement; the generator's loss uses the course's
targets-only head (`mlm.masked_lm_loss`), which gives the same loss with less compute.

Training runs in the course's one loop, `mlm.train_mlm`, with `loss_fn=electra_loss` and
`valid=electra_validator(...)`: `ElectraPretrainingModel` holds both networks as one module.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining

from course_utils.budget import SMOKE_EVAL_BATCHES, Budget, smoke_test
from course_utils.device import autocast
from course_utils.masking import (
    IGNORE_INDEX,
    DynamicMaskingCollator,
    mask_tokens,
    special_tokens_mask_for,
)
from course_utils.mlm import MLMOutput, encoder_sizes, masked_lm_loss

MASK_PROB = 0.15  # configure_pretraining.py: mask_prob (0.25 for ELECTRA-Large)
MASK_REPLACE_PROB = 0.85  # pretrain_helpers.mask: 85% of the selected become [MASK] ...
RANDOM_REPLACE_PROB = 0.0  # ... and the other 15% stay unchanged: no random tokens
DISC_WEIGHT = 50.0  # configure_pretraining.py: disc_weight (lambda in the paper)
GEN_WEIGHT = 1.0  # configure_pretraining.py: gen_weight
GENERATOR_FRACTION = 0.25  # configure_pretraining.py: generator_hidden_size (Small)
EVAL_SEED = 1234  # masks and samples of the fixed held-out evaluation
GENERATOR_DIR = "generator"  # save_pretrained: the generator's subfolder
PAIR_FILE = "electra_pretraining.json"  # save_pretrained: loss weights of the pair


# ---------------------------------------------------------------- configs


def _heads_for(hidden: int, wanted: int) -> int:
    """The largest head count <= `wanted` that divides `hidden` (at least 1)."""
    for heads in range(max(1, wanted), 0, -1):
        if hidden % heads == 0:
            return heads
    return 1


def discriminator_config(
    vocab_size: int,
    budget: Budget | str | None = None,
    pad_token_id: int = 0,
    **overrides: Any,
) -> ElectraConfig:
    """An ElectraConfig for the discriminator, sized like the course's BERT for the budget.

    Same shape as `mlm.small_bert_config` (so an MLM model of the same architecture is the fair
    comparison) with embedding size = hidden size; pass `embedding_size=...` to factorise the
    embedding as ELECTRA-Small does (E=128, H=256).
    """
    sizes = encoder_sizes(vocab_size, budget)  # checks vocab_size; the shape BERT gets
    if not 0 <= pad_token_id < vocab_size:
        raise ValueError(f"pad_token_id={pad_token_id} is outside the vocabulary (0..{vocab_size})")
    kwargs: dict[str, Any] = dict(
        sizes, embedding_size=sizes["hidden_size"], type_vocab_size=2, pad_token_id=pad_token_id
    )
    kwargs.update(overrides)
    return ElectraConfig(**kwargs)


def generator_config(
    discriminator: ElectraConfig,
    hidden_fraction: float = GENERATOR_FRACTION,
    layers_fraction: float = 1.0,
) -> ElectraConfig:
    """The generator's config from the discriminator's, as `get_generator_config` (official).

    hidden = round(fraction x discriminator hidden), layers = round(fraction x layers),
    feed-forward 4 x hidden, heads max(1, hidden // 64) (reduced until they divide hidden);
    vocabulary, embedding size, positions and segments are the discriminator's (shared).
    """
    if not 0 < hidden_fraction <= 1 or not 0 < layers_fraction <= 1:
        raise ValueError(
            f"hidden_fraction and layers_fraction must be in (0, 1], got {hidden_fraction}, "
            f"{layers_fraction}"
        )
    hidden = max(1, round(discriminator.hidden_size * hidden_fraction))
    config = ElectraConfig(**discriminator.to_dict())
    config.hidden_size = hidden
    config.num_hidden_layers = max(1, round(discriminator.num_hidden_layers * layers_fraction))
    config.intermediate_size = 4 * hidden
    config.num_attention_heads = _heads_for(hidden, max(1, hidden // 64))
    config.architectures = None
    return config


# ---------------------------------------------------------------- the pair


def _check_shared_shapes(generator: ElectraConfig, discriminator: ElectraConfig) -> None:
    fields = ("vocab_size", "embedding_size", "max_position_embeddings", "type_vocab_size")
    differ = [
        f"{f}: generator {getattr(generator, f)} vs discriminator {getattr(discriminator, f)}"
        for f in fields
        if getattr(generator, f) != getattr(discriminator, f)
    ]
    if differ:
        raise ValueError("the two models cannot share embeddings: " + "; ".join(differ))


class ElectraPretrainingModel(nn.Module):
    """Generator + discriminator sharing one embedding block; one module for `mlm.train_mlm`.

    `generator.electra.embeddings` IS `discriminator.electra.embeddings` (token, position and
    segment tables and their LayerNorm), and the generator's output layer is tied to the same
    token table, as in ElectraForMaskedLM. Call the model on a batch (input_ids, attention_mask,
    labels) or use `electra_loss`.
    """

    def __init__(
        self,
        generator: ElectraForMaskedLM,
        discriminator: ElectraForPreTraining,
        disc_weight: float = DISC_WEIGHT,
        gen_weight: float = GEN_WEIGHT,
    ) -> None:
        super().__init__()
        if not isinstance(generator, ElectraForMaskedLM):
            raise TypeError(f"generator must be an ElectraForMaskedLM, got {type(generator)}")
        if not isinstance(discriminator, ElectraForPreTraining):
            raise TypeError(
                f"discriminator must be an ElectraForPreTraining, got {type(discriminator)}"
            )
        if disc_weight < 0 or gen_weight < 0:
            raise ValueError(f"loss weights must be >= 0, got {gen_weight}, {disc_weight}")
        _check_shared_shapes(generator.config, discriminator.config)
        self.generator = generator
        self.discriminator = discriminator
        self.disc_weight = float(disc_weight)
        self.gen_weight = float(gen_weight)
        self.share_embeddings()

    def share_embeddings(self) -> None:
        """Make the generator use the discriminator's embedding block (the same tensors)."""
        shared = self.discriminator.electra.embeddings
        self.generator.electra.embeddings = shared
        # ElectraForMaskedLM ties its output projection to its token table: re-tie to the shared
        self.generator.generator_lm_head.weight = shared.word_embeddings.weight

    @classmethod
    def from_configs(
        cls,
        discriminator: ElectraConfig,
        generator: ElectraConfig | None = None,
        seed: int | None = 0,
        **weights: float,
    ) -> ElectraPretrainingModel:
        """Both models freshly initialised (from `seed`); generator default: `generator_config`."""
        if seed is not None:
            torch.manual_seed(seed)
        gen = ElectraForMaskedLM(generator or generator_config(discriminator))
        disc = ElectraForPreTraining(discriminator)
        return cls(gen, disc, **weights)

    @classmethod
    def for_tokenizer(
        cls,
        tokenizer: Any,
        budget: Budget | str | None = None,
        hidden_fraction: float = GENERATOR_FRACTION,
        seed: int | None = 0,
        **overrides: Any,
    ) -> ElectraPretrainingModel:
        """The pair for a (course) tokenizer, sized by the budget; `overrides` go to the configs."""
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        disc = discriminator_config(len(tokenizer), budget, pad_token_id=pad, **overrides)
        return cls.from_configs(disc, generator_config(disc, hidden_fraction), seed=seed)

    def forward(self, **batch: torch.Tensor) -> ElectraOutput:
        return electra_loss(self, batch)

    def save_pretrained(self, path: str | Path, include_generator: bool = True) -> Path:
        """Discriminator in `path` (what fine-tuning loads), generator in `path/generator`.

        Each model is saved by its own `save_pretrained`: a single safetensors file of the pair
        cannot hold the shared embedding tensors twice (safetensors refuses shared storage).
        """
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        self.discriminator.save_pretrained(out)
        if include_generator:
            self.generator.save_pretrained(out / GENERATOR_DIR)
        meta = {"disc_weight": self.disc_weight, "gen_weight": self.gen_weight}
        meta["generator_saved"] = include_generator
        (out / PAIR_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return out

    @classmethod
    def from_pretrained(cls, path: str | Path) -> ElectraPretrainingModel:
        """The pair saved by `save_pretrained` (generator required), embeddings shared again."""
        root = Path(path)
        if not (root / GENERATOR_DIR / "config.json").is_file():
            raise FileNotFoundError(
                f"no generator in {root / GENERATOR_DIR}: it was saved with "
                "include_generator=False, or this is not an ELECTRA pair; load the "
                "discriminator alone with ElectraForPreTraining.from_pretrained"
            )
        meta_file = root / PAIR_FILE
        meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else {}
        weights = {k: meta[k] for k in ("disc_weight", "gen_weight") if k in meta}
        disc = ElectraForPreTraining.from_pretrained(root)
        gen = ElectraForMaskedLM.from_pretrained(root / GENERATOR_DIR)
        return cls(gen, disc, **weights)


# ---------------------------------------------------------------- the objective


@dataclass
class ElectraOutput(MLMOutput):
    """`electra_loss`: loss = gen_weight x mlm_loss + disc_weight x disc_loss, and the pieces.

    logits / labels (from MLMOutput) are the generator's at the selected positions;
    `sampled` the generator's samples there; `corrupted_ids` the discriminator's input;
    `is_replaced` (B, L) its labels; `disc_logits` (B, L); `active` (B, L) the non-padding tokens.
    """

    mlm_loss: torch.Tensor
    disc_loss: torch.Tensor
    sampled: torch.Tensor
    corrupted_ids: torch.Tensor
    is_replaced: torch.Tensor
    disc_logits: torch.Tensor
    active: torch.Tensor


@torch.no_grad()
def sample_replacements(
    logits: torch.Tensor,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One token per row of `logits` (n, V), drawn from softmax(logits / temperature).

    No gradient: the result is an integer tensor, computed under no_grad (the official code's
    stop_gradient). It draws with torch.multinomial (the official code uses the equivalent
    Gumbel-max trick); pass a seeded `generator` (on the logits' device) to reproduce draws.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if logits.ndim != 2:
        raise ValueError(f"logits must be (n, vocab), got shape {tuple(logits.shape)}")
    if logits.shape[0] == 0:
        return torch.empty(0, dtype=torch.long, device=logits.device)
    probs = torch.softmax(logits.detach().float() / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def corrupt(
    input_ids: torch.Tensor, labels: torch.Tensor, sampled: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(original ids, corrupted ids, is_replaced) from a masked batch and the samples.

    The original sequence puts the label back at every selected position (labels != -100);
    the corrupted one puts the samples there, in row-major order of the selected positions.
    is_replaced is 1 only where the sample differs from the original: a correct sample is
    labelled original, as in the official code.
    """
    where = labels != IGNORE_INDEX
    if int(where.sum()) != sampled.numel():
        raise ValueError(f"{int(where.sum())} selected positions but {sampled.numel()} samples")
    original = torch.where(where, labels, input_ids)
    corrupted = original.clone()
    corrupted[where] = sampled.to(corrupted.dtype)
    return original, corrupted, (corrupted != original).long()


def detection_loss(
    logits: torch.Tensor, is_replaced: torch.Tensor, attention_mask: torch.Tensor | None
) -> torch.Tensor:
    """Binary cross-entropy of the replaced/original logits, averaged over non-padding tokens.

    Equal to ElectraForPreTraining's own loss (`labels=`, tests check it).
    """
    labels = is_replaced.to(logits.dtype)
    if attention_mask is None:
        return F.binary_cross_entropy_with_logits(logits.float(), labels.float())
    active = attention_mask.bool()
    return F.binary_cross_entropy_with_logits(logits[active].float(), labels[active].float())


def electra_loss(
    model: ElectraPretrainingModel,
    batch: Mapping[str, torch.Tensor],
    generator: torch.Generator | None = None,
    temperature: float = 1.0,
) -> ElectraOutput:
    """The ELECTRA objective on one masked batch; a `loss_fn` for `mlm.train_mlm`.

    `batch`: input_ids with the generator's corruption (`electra_collator`: 85% [MASK], 15%
    unchanged), labels (original id at selected positions, -100 elsewhere), attention_mask and
    optionally token_type_ids. The generator's loss uses the course's targets-only head
    (`mlm.masked_lm_loss`); its samples replace the selected positions; the discriminator
    reads the result at every position.
    """
    if not isinstance(model, ElectraPretrainingModel):
        raise TypeError(f"electra_loss needs an ElectraPretrainingModel, got {type(model)}")
    gen = masked_lm_loss(model.generator, batch)  # checks input_ids/labels, moves to the device
    device = gen.labels.device
    input_ids = batch["input_ids"].to(device)
    labels = batch["labels"].to(device)
    mask = batch.get("attention_mask")
    mask = mask.to(device) if mask is not None else torch.ones_like(input_ids)
    sampled = sample_replacements(gen.logits, temperature, generator)
    _, corrupted, is_replaced = corrupt(input_ids, labels, sampled)
    token_types = batch.get("token_type_ids")
    disc_logits = model.discriminator(
        input_ids=corrupted,
        attention_mask=mask,
        token_type_ids=token_types.to(device) if token_types is not None else None,
    ).logits
    disc = detection_loss(disc_logits, is_replaced, mask)
    loss = model.gen_weight * gen.loss + model.disc_weight * disc
    return ElectraOutput(
        loss=loss,
        logits=gen.logits,
        labels=gen.labels,
        mlm_loss=gen.loss,
        disc_loss=disc,
        sampled=sampled,
        corrupted_ids=corrupted,
        is_replaced=is_replaced,
        disc_logits=disc_logits,
        active=mask.bool(),
    )


# ---------------------------------------------------------------- data


def electra_collator(tokenizer: Any, seed: int = 0) -> DynamicMaskingCollator:
    """Dynamic masking with ELECTRA's corruption: 15% selected, 85% [MASK] / 15% unchanged."""
    return DynamicMaskingCollator(
        tokenizer,
        mlm_probability=MASK_PROB,
        seed=seed,
        mask_replace_prob=MASK_REPLACE_PROB,
        random_replace_prob=RANDOM_REPLACE_PROB,
    )


def make_electra_eval_batches(
    blocks: Mapping[str, torch.Tensor],
    tokenizer: Any,
    batch_size: int,
    seed: int = EVAL_SEED,
) -> list[dict[str, torch.Tensor]]:
    """All held-out blocks masked ONCE with ELECTRA's corruption from a fixed seed.

    The same positions are selected for every model and every evaluation, so numbers are
    comparable across steps, seeds and generator sizes.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if "input_ids" not in blocks:
        raise ValueError(f"blocks need input_ids, got keys {sorted(blocks)}")
    ids = torch.as_tensor(blocks["input_ids"])
    mask = blocks.get("attention_mask")
    mask = torch.as_tensor(mask) if mask is not None else torch.ones_like(ids)
    protected = special_tokens_mask_for(ids, tokenizer) | (mask == 0)
    inputs, labels = mask_tokens(
        ids,
        tokenizer,
        MASK_PROB,
        MASK_REPLACE_PROB,
        RANDOM_REPLACE_PROB,
        generator=torch.Generator().manual_seed(seed),
        special_tokens_mask=protected,
    )
    return [
        {"input_ids": i, "attention_mask": m, "labels": lab}
        for i, m, lab in zip(
            inputs.split(batch_size), mask.split(batch_size), labels.split(batch_size), strict=True
        )
    ]


# ---------------------------------------------------------------- evaluation


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def evaluate_electra(
    model: ElectraPretrainingModel,
    batches: Iterable[Mapping[str, torch.Tensor]],
    seed: int = EVAL_SEED,
) -> dict[str, float]:
    """Held-out metrics of the pair on pre-masked batches (`make_electra_eval_batches`).

    The generator's samples come from a generator seeded with `seed` at every call. Returns:
    loss (gen_weight x mlm_loss + disc_weight x disc_loss), mlm_loss, disc_loss,
    generator accuracy (argmax = original at the selected positions), sampled_accuracy (the
    sample = original), replaced_fraction (replaced tokens / non-padding tokens), and the
    discriminator's accuracy over non-padding tokens and precision, recall and ROC-AUC for the
    class "replaced" (scikit-learn; precision is 0 when it predicts no replaced token, AUC nan
    when no token was replaced). Threshold: probability 0.5.
    """
    from sklearn.metrics import precision_score, recall_score, roc_auc_score

    was_training = model.training
    model.eval()
    device = _device_of(model)
    sampler = torch.Generator(device=device).manual_seed(seed)
    mlm_sum = disc_sum = 0.0
    n_targets = n_tokens = correct = sampled_correct = 0
    probs, truth = [], []
    if smoke_test():
        batches = itertools.islice(batches, SMOKE_EVAL_BATCHES)
    try:
        for batch in batches:
            with autocast(device):
                out = electra_loss(model, batch, generator=sampler)
            k, active = out.labels.numel(), out.active
            if k:
                mlm_sum += F.cross_entropy(out.logits.float(), out.labels, reduction="sum").item()
                correct += int((out.logits.argmax(-1) == out.labels).sum())
                sampled_correct += int((out.sampled == out.labels).sum())
            n_targets += k
            n_tokens += int(active.sum())
            disc_sum += out.disc_loss.item() * int(active.sum())
            probs.append(torch.sigmoid(out.disc_logits[active].float()).cpu())
            truth.append(out.is_replaced[active].cpu())
    finally:
        model.train(was_training)
    if n_targets == 0 or n_tokens == 0:
        raise ValueError("no selected positions in the evaluation batches")
    p, y = torch.cat(probs).numpy(), torch.cat(truth).numpy()
    predicted = (p > 0.5).astype(int)
    mlm_loss, disc_loss = mlm_sum / n_targets, disc_sum / n_tokens
    return {
        "loss": model.gen_weight * mlm_loss + model.disc_weight * disc_loss,
        "mlm_loss": mlm_loss,
        "disc_loss": disc_loss,
        "generator_accuracy": correct / n_targets,
        "sampled_accuracy": sampled_correct / n_targets,
        "replaced_fraction": float(y.mean()),
        "disc_accuracy": float((predicted == y).mean()),
        "disc_precision": float(precision_score(y, predicted, zero_division=0.0)),
        "disc_recall": float(recall_score(y, predicted, zero_division=0.0)),
        "disc_auc": float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else math.nan,
        "n_targets": n_targets,
        "n_tokens": n_tokens,
    }


def electra_validator(
    batches: Iterable[Mapping[str, torch.Tensor]], seed: int = EVAL_SEED
) -> Callable[[nn.Module], dict[str, float]]:
    """`valid=` for `mlm.train_mlm`: evaluates on the same fixed batches at every call."""
    fixed = list(batches)
    if not fixed:
        raise ValueError("no evaluation batches")

    def validate(model: nn.Module) -> dict[str, float]:
        return evaluate_electra(model, fixed, seed)

    return validate
