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
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
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
from course_utils.mlm import MLMOutput, encoder_sizes, init_range, masked_lm_loss
from course_utils.results import git_commit
from course_utils.results import load_results as _load_results

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


class UnigramGenerator(nn.Module):
    """The paper's "unigram" generator (Clark et al. 2020, Figure 3): replacements are drawn
    from the training tokens' frequencies, whatever the context. Nothing here is trained.

    `counts` (V,) token counts; `exclude_ids` (special tokens) get probability 0. `log_probs`
    plays the role of the generator's logits at every selected position.
    """

    def __init__(self, counts: torch.Tensor, exclude_ids: Iterable[int] = ()) -> None:
        super().__init__()
        probs = torch.as_tensor(counts, dtype=torch.float64).clone()
        if probs.ndim != 1 or bool((probs < 0).any()):
            raise ValueError("counts must be a 1-d tensor of non-negative token counts")
        excluded = sorted(set(exclude_ids))
        if excluded:
            probs[torch.tensor(excluded, dtype=torch.long)] = 0.0
        if float(probs.sum()) <= 0:
            raise ValueError("counts are all zero once the excluded ids are removed")
        self.register_buffer("log_probs", (probs / probs.sum()).log().float())

    @property
    def vocab_size(self) -> int:
        return int(self.log_probs.shape[0])

    @classmethod
    def from_blocks(cls, blocks: Mapping[str, torch.Tensor], tokenizer: Any) -> UnigramGenerator:
        """Frequencies of the non-padding, non-special tokens of training `blocks`."""
        ids = torch.as_tensor(blocks["input_ids"])
        mask = blocks.get("attention_mask")
        if mask is not None:
            ids = ids[torch.as_tensor(mask).bool()]
        counts = torch.bincount(ids.flatten(), minlength=len(tokenizer))
        return cls(counts, tokenizer.all_special_ids)

    def loss(self, labels: torch.Tensor) -> MLMOutput:
        """Its 'MLM' output at the targets: constant logits, a loss with no parameter to train."""
        where = labels != IGNORE_INDEX
        targets = labels[where]
        logits = self.log_probs.expand(targets.numel(), -1)
        loss = F.cross_entropy(logits, targets) if targets.numel() else logits.sum() * 0.0
        return MLMOutput(loss=loss, logits=logits, labels=targets)


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
        if not isinstance(generator, ElectraForMaskedLM | UnigramGenerator):
            raise TypeError(
                "generator must be an ElectraForMaskedLM or a UnigramGenerator, got "
                f"{type(generator)}"
            )
        if not isinstance(discriminator, ElectraForPreTraining):
            raise TypeError(
                f"discriminator must be an ElectraForPreTraining, got {type(discriminator)}"
            )
        if disc_weight < 0 or gen_weight < 0:
            raise ValueError(f"loss weights must be >= 0, got {gen_weight}, {disc_weight}")
        if isinstance(generator, UnigramGenerator):
            if generator.vocab_size != discriminator.config.vocab_size:
                raise ValueError(
                    f"unigram generator over {generator.vocab_size} tokens, discriminator "
                    f"vocabulary {discriminator.config.vocab_size}"
                )
        else:
            _check_shared_shapes(generator.config, discriminator.config)
        self.generator = generator
        self.discriminator = discriminator
        self.disc_weight = float(disc_weight)
        self.gen_weight = float(gen_weight)
        self.share_embeddings()

    def share_embeddings(self) -> None:
        """Make the generator use the discriminator's embedding block (the same tensors)."""
        if isinstance(self.generator, UnigramGenerator):
            return  # nothing to share: it has no embeddings
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
        include_generator = include_generator and not isinstance(self.generator, UnigramGenerator)
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
    stop_gradient). It draws by inverting the cumulative distribution with one uniform number
    per row (the official code uses the Gumbel-max trick, which draws one number per row AND
    vocabulary entry; both sample the same distribution, and on a CPU torch.multinomial's
    per-entry draws cost more than the rest of an ELECTRA step). Pass a seeded `generator` (on
    the logits' device) to reproduce draws.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if logits.ndim != 2:
        raise ValueError(f"logits must be (n, vocab), got shape {tuple(logits.shape)}")
    if logits.shape[0] == 0:
        return torch.empty(0, dtype=torch.long, device=logits.device)
    probs = torch.softmax(logits.detach().float() / temperature, dim=-1)
    cdf = probs.cumsum(-1)
    # u in [0, total): the total is 1 up to rounding; right=True never picks a zero-mass entry
    u = torch.rand(cdf.shape[0], 1, generator=generator, device=cdf.device) * cdf[:, -1:]
    picked = torch.searchsorted(cdf, u, right=True).squeeze(-1)
    return picked.clamp_(max=logits.shape[1] - 1)


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
    if isinstance(model.generator, UnigramGenerator):
        device = model.generator.log_probs.device
        gen = model.generator.loss(batch["labels"].to(device))
    else:  # masked_lm_loss checks input_ids/labels and moves them to the model's device
        gen = masked_lm_loss(model.generator, batch)
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


# ---------------------------------------------------------------- one sentence, by hand


@dataclass
class SentenceExample:
    """ELECTRA's step on one sentence, every intermediate kept (`one_sentence`).

    `table`: one row per selected position (original token, what the generator saw, its
    sample, the sample's and the original's probability, the label); `tokens` the original
    tokens and `corrupted` the discriminator's input tokens (special tokens included);
    `replaced_prob` the discriminator's P(replaced) per token; the losses as floats.
    """

    seed: int
    table: Any
    tokens: list[str]
    corrupted: list[str]
    is_replaced: list[int]
    replaced_prob: list[float]
    mlm_loss: float
    disc_loss: float
    total_loss: float


@torch.no_grad()
def one_sentence(
    model: ElectraPretrainingModel,
    tokenizer: Any,
    text: str,
    seed: int = 0,
    max_seeds: int = 200,
) -> SentenceExample:
    """Run ELECTRA's corruption, sampling and both losses on `text`, step by step.

    Selection (15%) and sampling come from `seed`; seeds are tried from `seed` upwards (at most
    `max_seeds`) until at least one selected position is replaced and one keeps its original
    token (the generator sampled it), so that both labels appear. The seed used is returned.
    """
    import pandas as pd

    model.eval()
    enc = tokenizer(text, return_tensors="pt")
    ids = enc["input_ids"]
    protected = special_tokens_mask_for(ids, tokenizer)
    device = _device_of(model)
    for s in range(seed, seed + max_seeds):
        gen = torch.Generator().manual_seed(s)
        inputs, labels = mask_tokens(
            ids,
            tokenizer,
            MASK_PROB,
            MASK_REPLACE_PROB,
            RANDOM_REPLACE_PROB,
            generator=gen,
            special_tokens_mask=protected,
        )
        if int((labels != IGNORE_INDEX).sum()) < 2:
            continue
        batch = {"input_ids": inputs, "attention_mask": enc["attention_mask"], "labels": labels}
        sampler = torch.Generator(device=device).manual_seed(s)
        out = electra_loss(model, batch, generator=sampler)
        where = (labels != IGNORE_INDEX).to(out.is_replaced.device)
        chosen = out.is_replaced[where]
        if bool((chosen == 1).any()) and bool((chosen == 0).any()):
            break
    else:
        raise ValueError(
            f"no seed in {seed}..{seed + max_seeds - 1} gave both a replaced and a kept token"
        )
    probs = torch.softmax(out.logits.float(), -1)
    sampled = out.sampled.cpu()
    targets = out.labels.cpu()
    positions = where[0].nonzero().flatten().tolist()
    rows = []
    for k, pos in enumerate(positions):
        shown = int(inputs[0, pos])
        rows.append(
            {
                "position": pos,
                "original": tokenizer.convert_ids_to_tokens(int(targets[k])),
                "generator saw": tokenizer.convert_ids_to_tokens(shown),
                "sample": tokenizer.convert_ids_to_tokens(int(sampled[k])),
                "p(sample)": float(probs[k, sampled[k]]),
                "p(original)": float(probs[k, targets[k]]),
                "label": "replaced" if int(out.is_replaced[0, pos]) else "original",
            }
        )
    return SentenceExample(
        seed=s,
        table=pd.DataFrame(rows).set_index("position"),
        tokens=tokenizer.convert_ids_to_tokens(ids[0].tolist()),
        corrupted=tokenizer.convert_ids_to_tokens(out.corrupted_ids[0].tolist()),
        is_replaced=out.is_replaced[0].tolist(),
        replaced_prob=torch.sigmoid(out.disc_logits[0].float()).tolist(),
        mlm_loss=float(out.mlm_loss),
        disc_loss=float(out.disc_loss),
        total_loss=float(out.loss),
    )


@torch.no_grad()
def replaced_probabilities(
    discriminator: Any, tokenizer: Any, text: str
) -> list[tuple[str, float]]:
    """(token, P(replaced)) for every token of `text` under an ElectraForPreTraining."""
    discriminator.eval()
    enc = tokenizer(text, return_tensors="pt")
    device = _device_of(discriminator)
    logits = discriminator(**{k: v.to(device) for k, v in enc.items()}).logits[0]
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0].tolist())
    return list(zip(tokens, torch.sigmoid(logits.float()).tolist(), strict=True))


def detection_html(
    tokens: Iterable[str], probs: Iterable[float], replaced: Iterable[int] | None = None
) -> str:
    """Tokens as HTML, background red in proportion to P(replaced); truly replaced tokens
    underlined (when `replaced` is given). Hover shows the probability."""
    import html

    spans = []
    marks = list(replaced) if replaced is not None else None
    for i, (token, p) in enumerate(zip(tokens, probs, strict=True)):
        style = f"background: rgba(220, 40, 40, {p:.2f}); padding: 1px 2px; border-radius: 3px"
        if marks is not None and marks[i]:
            style += "; text-decoration: underline; font-weight: bold"
        spans.append(
            f'<span style="{style}" title="P(replaced) = {p:.2f}">{html.escape(token)}</span>'
        )
    return '<div style="line-height: 2; font-family: monospace">' + " ".join(spans) + "</div>"


# ---------------------------------------------------------------- the equal-compute experiment
#
# `python -m course_utils.electra experiment --budget cpu --seeds 0 1 2 --ablation-seeds 0
#     --out results/electra_equal_compute.json`
# pretrains MLM (BERT's objective on the discriminator's architecture: ElectraForMaskedLM with
# the discriminator's config, so that fine-tuning loads the very same encoder and head) and
# ELECTRA from scratch at equal training FLOPs (`flops.train_flops_per_step`), evaluates both
# on fixed held-out masks, fine-tunes every encoder on SST-2 with `downstream.finetune_sst2`
# (one recipe for all), and adds the random-init and majority baselines and the generator-size
# ablation. The chapter reads the committed file; tests rerun the command at the `ci` budget.

RESULTS_FILE = "results/electra_equal_compute.json"
#: The command that remakes RESULTS_FILE (named when neither the clone nor GitHub has it).
RERUN_COMMAND = "python -m course_utils.electra experiment --budget cpu --out FILE"
ABLATION_GENERATORS = ("1/4", "1/2", "1x", "unigram")  # "1/4" is the main ELECTRA run
_FRACTIONS = {"1/4": 0.25, "1/2": 0.5, "1x": 1.0}


@dataclass(frozen=True)
class ExperimentPlan:
    """Sizes of one experiment: encoder shape, ELECTRA steps, batch, data and fine-tuning."""

    budget: str
    hidden: int
    layers: int
    heads: int
    ffn: int
    block: int
    electra_steps: int
    batch_size: int
    lr: float
    warmup_fraction: float
    dropout: float  # hidden and attention dropout of both models (0: fastest early learning)
    train_lines: int | None  # WikiText-2 train lines (None: all)
    eval_blocks: int  # validation blocks in the fixed held-out evaluation
    evals: int  # evaluations per run (the last at the end)
    finetune_examples: int  # SST-2 training sentences of the fine-tuning recipe


def experiment_plan(budget: Budget | str | None = None) -> ExperimentPlan:
    """The plan for a budget. `cpu` fits about 15 minutes of 2 CPU cores (10 pretraining runs,
    13 fine-tunings); `ci` takes well under a minute (tests only). Dropout 0 and lr 2e-3: in
    short runs both learn faster than the course checkpoints' 0.1 and 1e-3 (the course-bert
    recipe sweep, results/pretraining_sweep.jsonl), for both objectives alike."""
    from course_utils.budget import get_budget

    b = budget if isinstance(budget, Budget) else get_budget(budget)
    return b.pick(
        ci=ExperimentPlan("ci", 32, 2, 2, 128, 32, 12, 8, 2e-3, 0.1, 0.0, 600, 8, 2, 64),
        cpu=ExperimentPlan("cpu", 64, 2, 2, 256, 64, 1000, 32, 2e-3, 0.1, 0.0, None, 128, 4, 8000),
        gpu=ExperimentPlan(
            "gpu", 256, 4, 4, 1024, 128, 10_000, 128, 1e-3, 0.1, 0.0, None, 256, 5, 20_000
        ),
    )


def _experiment_tokenizer() -> Any:
    """The WordPiece of course-bert-small (8,192 entries, trained on WikiText-2 train)."""
    from transformers import AutoTokenizer

    from course_utils.checkpoints import checkpoint_dir

    return AutoTokenizer.from_pretrained(checkpoint_dir("course-bert-small"))


def _disc_config(plan: ExperimentPlan, tokenizer: Any) -> ElectraConfig:
    return ElectraConfig(
        vocab_size=len(tokenizer),
        embedding_size=plan.hidden,
        hidden_size=plan.hidden,
        num_hidden_layers=plan.layers,
        num_attention_heads=plan.heads,
        intermediate_size=plan.ffn,
        max_position_embeddings=plan.block,
        type_vocab_size=2,
        pad_token_id=tokenizer.pad_token_id,
        hidden_dropout_prob=plan.dropout,
        attention_probs_dropout_prob=plan.dropout,
        # the course recipe's init (mlm.init_range): BERT's 0.02 leaves H=64 on the unigram plateau
        initializer_range=init_range(plan.hidden),
    )


def _loader(blocks: Mapping[str, torch.Tensor], collator: Any, batch_size: int, seed: int) -> Any:
    from torch.utils.data import DataLoader

    rows = [
        {"input_ids": i, "attention_mask": m}
        for i, m in zip(blocks["input_ids"], blocks["attention_mask"], strict=True)
    ]
    order = torch.Generator().manual_seed(seed)
    return DataLoader(
        rows, batch_size=batch_size, shuffle=True, generator=order, collate_fn=collator
    )


def _electra_pair(
    plan: ExperimentPlan, tokenizer: Any, generator: str, seed: int, train_blocks: Any
) -> ElectraPretrainingModel:
    disc = _disc_config(plan, tokenizer)
    if generator == "unigram":
        torch.manual_seed(seed)
        unigram = UnigramGenerator.from_blocks(train_blocks, tokenizer)
        return ElectraPretrainingModel(unigram, ElectraForPreTraining(disc))
    if generator not in _FRACTIONS:
        raise ValueError(f"generator must be one of {', '.join(ABLATION_GENERATORS)}")
    return ElectraPretrainingModel.from_configs(
        disc, generator_config(disc, _FRACTIONS[generator]), seed=seed
    )


def _train_config(plan: ExperimentPlan, steps: int, seed: int) -> Any:
    """The experiment's `mlm.TrainConfig` for `steps`: warm-up and evaluations scale with it."""
    from course_utils.mlm import TrainConfig

    return TrainConfig(
        steps=steps,
        batch_size=plan.batch_size,
        lr=plan.lr,
        warmup_steps=round(plan.warmup_fraction * steps),
        eval_every=max(1, steps // plan.evals),
        seed=seed,
    )


def _pretrain(
    objective: str,
    generator: str | None,
    steps: int,
    plan: ExperimentPlan,
    tokenizer: Any,
    train_blocks: Mapping[str, torch.Tensor],
    valid_blocks: Mapping[str, torch.Tensor],
    seed: int,
) -> tuple[Any, dict[str, Any]]:
    """One pretraining run; (the encoder to fine-tune, its record without SST-2)."""
    from course_utils.flops import train_flops_per_step
    from course_utils.masking import DynamicMaskingCollator
    from course_utils.mlm import (
        evaluate_batches,
        make_eval_batches,
        train_mlm,
    )

    config = _train_config(plan, steps, seed)
    if objective == "mlm":
        torch.manual_seed(seed)
        model: nn.Module = ElectraForMaskedLM(_disc_config(plan, tokenizer))
        collator = DynamicMaskingCollator(tokenizer, seed=seed)  # BERT's 80-10-10
        fixed = make_eval_batches(valid_blocks, tokenizer, plan.batch_size, EVAL_SEED)
        history = train_mlm(
            model,
            _loader(train_blocks, collator, plan.batch_size, seed),
            config,
            valid=lambda m: evaluate_batches(m, fixed),
            progress=False,
        )
        encoder = model
    else:
        model = _electra_pair(plan, tokenizer, generator or "1/4", seed, train_blocks)
        collator = electra_collator(tokenizer, seed=seed)
        fixed = make_electra_eval_batches(valid_blocks, tokenizer, plan.batch_size)
        history = train_mlm(
            model,
            _loader(train_blocks, collator, plan.batch_size, seed),
            config,
            valid=electra_validator(fixed),
            progress=False,
            loss_fn=electra_loss,
        )
        encoder = model.discriminator
    per_step = train_flops_per_step(model, plan.batch_size, plan.block)
    record = {
        "objective": objective,
        "generator": generator,
        "seed": seed,
        "steps": config.steps,
        "train_flops_per_step": per_step,
        "train_flops": per_step * config.steps,
        "n_params": history.n_params,
        "encoder_params": sum(p.numel() for p in encoder.parameters()),
        "tokens_seen": history.tokens_seen[-1],
        "pretrain_seconds": round(history.wall_time, 1),
        "final_train_loss": history.train_loss[-1],
        "valid": {k: v for k, v in history.evals[-1].items() if k != "wall_time"},
        "curve": [{k: v for k, v in row.items() if k != "wall_time"} for row in history.evals],
    }
    return encoder, record


def run_experiment(
    budget: Budget | str | None = None,
    seeds: Iterable[int] = (0, 1, 2),
    ablation_seeds: Iterable[int] = (0,),
    ablation: Iterable[str] = ABLATION_GENERATORS,
    command: str | None = None,
    log: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """MLM vs ELECTRA at equal training FLOPs, baselines and the generator-size ablation.

    For every seed: ELECTRA (generator 1/4 of the discriminator's hidden size, as the official
    small model's setting) for `plan.electra_steps` steps; MLM on the discriminator's
    architecture for as many steps as give the same training FLOPs (rounded); both evaluated
    on fixed held-out masks and fine-tuned on SST-2 (one recipe, the run's seed); random init
    (same architecture and recipe) for every seed; the majority baseline. The ablation trains
    ELECTRA with each generator in `ablation` for `ablation_seeds` at the same number of
    steps (as the paper's Figure 3: equal steps, so a larger generator costs more FLOPs);
    the "1/4" runs of seeds already trained are reused. Returns a JSON-ready dict.
    """
    import platform

    from course_utils.budget import get_budget
    from course_utils.downstream import finetune_sst2, majority_baseline, recipe, sst2_metric
    from course_utils.flops import train_flops_per_step
    from course_utils.packing import load_blocks

    b = budget if isinstance(budget, Budget) else get_budget(budget)
    plan = experiment_plan(b)
    seeds, ablation_seeds, ablation = list(seeds), list(ablation_seeds), list(ablation)
    if not seeds:
        raise ValueError("seeds is empty")
    unknown = [g for g in ablation if g not in ABLATION_GENERATORS]
    if unknown:
        raise ValueError(f"unknown generators {unknown}: use {', '.join(ABLATION_GENERATORS)}")
    say = log or (lambda _: None)
    start = time.perf_counter()
    commit = git_commit()  # the code that runs now (HEAD may move during a long run)
    tokenizer = _experiment_tokenizer()
    train_blocks = load_blocks(tokenizer, "train", plan.block, max_lines=plan.train_lines)
    valid_all = load_blocks(tokenizer, "validation", plan.block)
    valid_blocks = {k: v[: plan.eval_blocks] for k, v in valid_all.items()}

    # equal compute: the MLM step count that matches ELECTRA's training FLOPs
    probe_pair = _electra_pair(plan, tokenizer, "1/4", 0, train_blocks)
    probe_mlm = ElectraForMaskedLM(_disc_config(plan, tokenizer))
    electra_step = train_flops_per_step(probe_pair, plan.batch_size, plan.block)
    mlm_step = train_flops_per_step(probe_mlm, plan.batch_size, plan.block)
    mlm_steps = round(plan.electra_steps * electra_step / mlm_step)
    del probe_pair, probe_mlm
    say(
        f"equal compute: ELECTRA {plan.electra_steps} steps x {electra_step / 1e9:.2f} GFLOP"
        f" = MLM {mlm_steps} steps x {mlm_step / 1e9:.2f} GFLOP"
    )

    tune = recipe(b, train_examples=plan.finetune_examples)
    metric, implementation = sst2_metric(verbose=False)
    say(f"SST-2 metric: {implementation} implementation; {tune.train_examples} sentences")

    def finetune(encoder: Any, seed: int, init: str = "pretrained") -> dict[str, Any]:
        result = finetune_sst2(
            encoder,
            tokenizer,
            init=init,
            budget=b,
            seed=seed,
            finetune_recipe=tune,
            metric=metric,
            verbose=False,
        )
        return {
            "accuracy": result.accuracy,
            "steps": result.steps,
            "train_seconds": result.train_seconds,
            "train_loss": result.extra["train_loss"],
        }

    runs: list[dict[str, Any]] = []
    random_init: list[dict[str, Any]] = []

    def run(objective: str, generator: str | None, steps: int, seed: int) -> None:
        encoder, record = _pretrain(
            objective, generator, steps, plan, tokenizer, train_blocks, valid_blocks, seed
        )
        record["sst2"] = finetune(encoder, seed)
        runs.append(record)
        v = record["valid"]
        detail = (
            f"MLM acc {v['accuracy']:.3f}"
            if objective == "mlm"
            else f"replaced {v['replaced_fraction']:.3f}, disc AUC {v['disc_auc']:.3f}"
        )
        say(
            f"{objective:7s} {generator or '':7s} seed {seed}: {detail}, "
            f"SST-2 {record['sst2']['accuracy']:.3f} ({record['pretrain_seconds']:.0f} s "
            f"+ {record['sst2']['train_seconds']:.0f} s)"
        )

    for seed in seeds:
        run("electra", "1/4", plan.electra_steps, seed)
        run("mlm", None, mlm_steps, seed)
        torch.manual_seed(seed)
        blank = ElectraForPreTraining(_disc_config(plan, tokenizer))
        random_init.append({"seed": seed, **finetune(blank, seed, init="random")})
        say(f"random init      seed {seed}: SST-2 {random_init[-1]['accuracy']:.3f}")
    for generator in ablation:
        for seed in ablation_seeds:
            done = any(
                r["objective"] == "electra" and r["generator"] == generator and r["seed"] == seed
                for r in runs
            )
            if not done:
                run("electra", generator, plan.electra_steps, seed)
    majority = majority_baseline(metric)
    return {
        "command": command,
        "budget": b.name,
        "seeds": seeds,
        "ablation_seeds": ablation_seeds,
        "ablation_generators": ablation,
        "git_commit": commit,
        "date": time.strftime("%Y-%m-%d"),
        "machine": {
            "platform": platform.platform(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "device": "cpu" if not torch.cuda.is_available() else torch.cuda.get_device_name(),
        },
        "plan": asdict(plan),
        "tokenizer": "course-bert-small's WordPiece",
        "vocab_size": len(tokenizer),
        "train_blocks": len(train_blocks["input_ids"]),
        "equal_compute": {
            "electra_steps": plan.electra_steps,
            "electra_flops_per_step": electra_step,
            "mlm_steps": mlm_steps,
            "mlm_flops_per_step": mlm_step,
        },
        "finetune_recipe": asdict(tune),
        "metric_implementation": implementation,
        "runs": runs,
        "random_init": random_init,
        "majority": majority,
        "total_seconds": round(time.perf_counter() - start, 1),
    }


# ---------------------------------------------------------------- what the discriminator can learn
#
# The discriminator alone, against two FIXED replacement distributions (no generator to train):
# uniform over the vocabulary (a replacement is usually a rare token, so its identity alone gives
# it away) and unigram (a replacement is as frequent as the text it sits in, so only the context
# can). Same encoder, steps, data and held-out masks as the experiment's ELECTRA runs:
#   python -m course_utils.electra shortcut --budget cpu --out results/electra_shortcut.json

SHORTCUT_FILE = "results/electra_shortcut.json"
SHORTCUT_COMMAND = "python -m course_utils.electra shortcut --budget cpu --out FILE"
SHORTCUT_GENERATORS = ("uniform", "unigram")


def run_shortcut(
    budget: Budget | str | None = None,
    seed: int = 0,
    command: str | None = None,
    log: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Held-out ROC-AUC curves of the experiment's discriminator trained against uniform and
    unigram replacements (see the comment above); a JSON-ready dict."""
    from course_utils.budget import get_budget
    from course_utils.mlm import train_mlm
    from course_utils.packing import load_blocks

    b = budget if isinstance(budget, Budget) else get_budget(budget)
    plan = experiment_plan(b)
    say = log or (lambda _: None)
    start = time.perf_counter()
    commit = git_commit()
    tokenizer = _experiment_tokenizer()
    train_blocks = load_blocks(tokenizer, "train", plan.block, max_lines=plan.train_lines)
    valid_all = load_blocks(tokenizer, "validation", plan.block)
    fixed = make_electra_eval_batches(
        {k: v[: plan.eval_blocks] for k, v in valid_all.items()}, tokenizer, plan.batch_size
    )
    generators = {
        "uniform": UnigramGenerator(torch.ones(len(tokenizer)), tokenizer.all_special_ids),
        "unigram": UnigramGenerator.from_blocks(train_blocks, tokenizer),
    }
    steps = plan.electra_steps
    config = _train_config(plan, steps, seed)
    curves = {}
    for name, generator in generators.items():
        torch.manual_seed(seed)  # the same initial discriminator for both
        pair = ElectraPretrainingModel(
            generator, ElectraForPreTraining(_disc_config(plan, tokenizer))
        )
        untrained = evaluate_electra(pair, fixed)
        history = train_mlm(
            pair,
            _loader(train_blocks, electra_collator(tokenizer, seed=seed), plan.batch_size, seed),
            config,
            valid=electra_validator(fixed),
            progress=False,
            loss_fn=electra_loss,
        )
        keys = ("disc_auc", "disc_loss", "replaced_fraction")
        curves[name] = [{"step": 0, **{k: untrained[k] for k in keys}}] + [
            {"step": int(e["step"]), **{k: float(e[k]) for k in keys}} for e in history.evals
        ]
        say(f"{name}: held-out ROC-AUC {curves[name][-1]['disc_auc']:.3f} after {steps} steps")
    return {
        "command": command,
        "budget": b.name,
        "seed": seed,
        "git_commit": commit,
        "plan": asdict(plan),
        "tokenizer": "course-bert-small's WordPiece",
        "curves": curves,
        "total_seconds": round(time.perf_counter() - start, 1),
    }


def load_shortcut(path: str | Path | None = None, verbose: bool = True) -> dict[str, Any]:
    """results/electra_shortcut.json (the clone's, else GitHub's at the pinned ref)."""
    return _load_results(SHORTCUT_FILE, SHORTCUT_COMMAND, path, verbose)


def shortcut_table(results: Mapping[str, Any]) -> Any:
    """Held-out ROC-AUC by step (rows) and replacement distribution (columns)."""
    import pandas as pd

    table = pd.DataFrame(
        {
            f"{name} replacements": {row["step"]: round(row["disc_auc"], 3) for row in rows}
            for name, rows in results["curves"].items()
        }
    )
    table.index.name = "step"
    return table


def load_results(path: str | Path | None = None, verbose: bool = True) -> dict[str, Any]:
    """The committed experiment: `path`, else `RESULTS_FILE` in the repository clone, else
    (an installed package without a clone, e.g. Colab) the same file from GitHub at the ref
    the course pins (config.GITHUB_REF). Prints which one it read."""
    return _load_results(RESULTS_FILE, RERUN_COMMAND, path, verbose)


COURSE_CHECKPOINT = "course-electra-small"


def load_course_pair(
    budget: Budget | str | None = None, steps: int | None = None
) -> tuple[ElectraPretrainingModel, Any, str]:
    """(pair, tokenizer, description): `course-electra-small` with its generator when it is
    built; otherwise a stand-in pair trained here for `steps` (default by budget) on
    WikiText-2 at the experiment's sizes, and the description says so."""
    from course_utils.budget import get_budget
    from course_utils.mlm import TrainConfig, train_mlm
    from course_utils.packing import load_blocks

    try:
        from course_utils.checkpoints import checkpoint_dir

        folder: Path | None = checkpoint_dir(COURSE_CHECKPOINT)
    except ValueError:  # not (yet) a course checkpoint name
        folder = None
    if folder is not None and (folder / GENERATOR_DIR / "config.json").is_file():
        from transformers import AutoTokenizer

        pair = ElectraPretrainingModel.from_pretrained(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        return pair, tokenizer, f"{COURSE_CHECKPOINT} (discriminator and its generator)"
    b = budget if isinstance(budget, Budget) else get_budget(budget)
    plan = experiment_plan(b)
    steps = steps or b.pick(ci=150, cpu=1500, gpu=3000)
    tokenizer = _experiment_tokenizer()
    blocks = load_blocks(tokenizer, "train", plan.block, max_lines=plan.train_lines)
    pair = _electra_pair(plan, tokenizer, "1/4", 0, blocks)
    config = TrainConfig(
        steps=steps,
        batch_size=plan.batch_size,
        lr=plan.lr,
        warmup_steps=round(plan.warmup_fraction * steps),
    )
    loader = _loader(blocks, electra_collator(tokenizer), plan.batch_size, 0)
    train_mlm(pair, loader, config, progress=False, loss_fn=electra_loss)
    return (
        pair,
        tokenizer,
        f"{COURSE_CHECKPOINT} is not built yet: a stand-in pair trained here\n"
        f"  ({steps} steps, hidden {plan.hidden}, the experiment's {b.name} sizes)",
    )


def equal_compute_table(results: Mapping[str, Any]) -> Any:
    """One row per condition: SST-2 dev accuracy (mean, std over seeds, per seed), FLOPs."""
    import pandas as pd

    rows = []
    main = [r for r in results["runs"] if r["objective"] == "mlm" or r["generator"] == "1/4"]
    for name, objective in (("MLM (BERT-style)", "mlm"), ("ELECTRA", "electra")):
        sub = [r for r in main if r["objective"] == objective]
        acc = pd.Series([r["sst2"]["accuracy"] for r in sub])
        rows.append(
            {
                "pretraining": name,
                "steps": sub[0]["steps"],
                "train TFLOP": sub[0]["train_flops"] / 1e12,
                "SST-2 mean": acc.mean(),
                "SST-2 std": acc.std(ddof=1) if len(acc) > 1 else float("nan"),
                "per seed": ", ".join(f"{a:.3f}" for a in acc),
                "seeds": len(acc),
            }
        )
    acc = pd.Series([r["accuracy"] for r in results["random_init"]])
    rows.append(
        {
            "pretraining": "none (random init)",
            "steps": 0,
            "train TFLOP": 0.0,
            "SST-2 mean": acc.mean(),
            "SST-2 std": acc.std(ddof=1) if len(acc) > 1 else float("nan"),
            "per seed": ", ".join(f"{a:.3f}" for a in acc),
            "seeds": len(acc),
        }
    )
    rows.append(
        {
            "pretraining": "majority class",
            "steps": 0,
            "train TFLOP": 0.0,
            "SST-2 mean": results["majority"]["accuracy"],
            "SST-2 std": float("nan"),
            "per seed": "",
            "seeds": 0,
        }
    )
    return pd.DataFrame(rows).set_index("pretraining")


def pretraining_table(results: Mapping[str, Any]) -> Any:
    """Held-out pretraining metrics of the main runs, mean over seeds, one row per objective."""
    import pandas as pd

    keys = {
        "electra": [
            "generator_accuracy",
            "replaced_fraction",
            "disc_accuracy",
            "disc_precision",
            "disc_recall",
            "disc_auc",
        ],
        "mlm": ["loss", "accuracy"],
    }
    rows = []
    for r in results["runs"]:
        if r["objective"] == "electra" and r["generator"] != "1/4":
            continue
        row = {"objective": r["objective"], "seed": r["seed"]}
        row.update({k: r["valid"][k] for k in keys[r["objective"]]})
        rows.append(row)
    return pd.DataFrame(rows).set_index(["objective", "seed"])


def ablation_table(results: Mapping[str, Any]) -> Any:
    """Generator-size ablation: per generator, held-out metrics and SST-2 (mean over seeds)."""
    import pandas as pd

    rows = []
    for g in results["ablation_generators"]:
        sub = [
            r
            for r in results["runs"]
            if r["objective"] == "electra"
            and r["generator"] == g
            and r["seed"] in results["ablation_seeds"]
        ]
        if not sub:
            continue
        rows.append(
            {
                "generator": g,
                "GFLOP/step": sub[0]["train_flops_per_step"] / 1e9,
                "generator acc": float(np.mean([r["valid"]["generator_accuracy"] for r in sub])),
                "replaced": float(np.mean([r["valid"]["replaced_fraction"] for r in sub])),
                "disc AUC": float(np.mean([r["valid"]["disc_auc"] for r in sub])),
                "SST-2": float(np.mean([r["sst2"]["accuracy"] for r in sub])),
                "seeds": len(sub),
            }
        )
    return pd.DataFrame(rows).set_index("generator")


def main(argv: list[str] | None = None) -> int:
    """CLI: `python -m course_utils.electra {experiment,shortcut} [--budget cpu] [--out FILE]`."""
    import argparse
    import os
    import shlex
    import sys

    parser = argparse.ArgumentParser(prog="python -m course_utils.electra")
    sub = parser.add_subparsers(dest="command", required=True)
    exp = sub.add_parser("experiment", help="MLM vs ELECTRA at equal FLOPs, and the ablation")
    exp.add_argument("--budget", default="cpu", choices=["ci", "cpu", "gpu"])
    exp.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    exp.add_argument("--ablation-seeds", type=int, nargs="*", default=[0])
    exp.add_argument(
        "--ablation", nargs="*", default=list(ABLATION_GENERATORS), choices=ABLATION_GENERATORS
    )
    exp.add_argument("--out", type=Path, default=None, help=f"JSON file (e.g. {RESULTS_FILE})")
    cut = sub.add_parser("shortcut", help="the discriminator vs uniform and unigram replacements")
    cut.add_argument("--budget", default="cpu", choices=["ci", "cpu", "gpu"])
    cut.add_argument("--seed", type=int, default=0)
    cut.add_argument("--out", type=Path, default=None, help=f"JSON file (e.g. {SHORTCUT_FILE})")
    args = parser.parse_args(argv)
    shared = Path(__file__).resolve().parents[3] / "shared" / "data"
    if not os.environ.get("COURSE_DATA_DIR") and shared.is_dir():
        os.environ["COURSE_DATA_DIR"] = str(shared)  # offline by default where the copy exists
    given = list(argv) if argv is not None else sys.argv[1:]
    command = "python -m course_utils.electra " + shlex.join(given)
    from course_utils.session import disable_progress_bars

    disable_progress_bars()  # one line per run in the log, no bars from save/load/map

    def say(line: str) -> None:  # a long run: show progress as it goes
        print(line, flush=True)

    if args.command == "shortcut":
        results = run_shortcut(args.budget, args.seed, command=command, log=say)
    else:
        results = run_experiment(
            args.budget,
            args.seeds,
            args.ablation_seeds,
            args.ablation,
            command=command,
            log=say,
        )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
