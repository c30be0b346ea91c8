"""Training FLOPs of the course's encoders and objectives, and this machine's matmul peak.

Conventions (stated once, used everywhere in the course):
- A multiply-add is 2 FLOPs; only matrix multiplications are counted: the Q, K, V and output
  projections, the attention scores QK^T and the weighted sum of values, the feed-forward pair,
  the embedding projection when the embedding size E differs from the hidden size H (ELECTRA's
  `embeddings_project`, ALBERT's factorised embedding) and the heads. Embedding lookups are free
  (a gather, not a one-hot product); softmax, LayerNorm, GELU, biases and dropout are left out
  (O(H) per token against O(H^2) for the matmuls; Clark et al.'s `flops_computation.py` counts
  them, and they change totals by about 1% at the course's sizes).
- Training = 3 x forward: the backward pass of a matmul costs two matmuls of the same size (the
  gradients with respect to its input and its weight), so forward + backward = 3 x forward, the
  convention of Kaplan et al. 2020 (6 N FLOPs per token). The ELECTRA paper's own script uses
  2 x forward; multiply our numbers by 2/3 to compare with its FLOP column.
- Targets-only heads are counted as such: the course's MLM loss (`mlm.masked_lm_loss`) applies
  the vocabulary head to the ~15% target positions only and, by default, runs the encoder's last
  layer there too (keys and values still at every position).
- Every position of the block is counted, padding included (the model computes it).
- ELECTRA: generator (targets-only MLM) + discriminator (encoder + detection head at every
  position); sampling is free. ALBERT's shared layers cost as much compute as unshared ones.

`train_flops_per_step(model, batch_size, seq_len)` dispatches on the course's model classes;
tests compare the count with a hand count and with torch's FlopCounterMode.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

BACKWARD_FACTOR = 2.0  # backward FLOPs / forward FLOPs; training = (1 + this) x forward
OBJECTIVES = ("mlm", "discriminator", "classification", "encoder")


@dataclass(frozen=True)
class EncoderShape:
    """What the FLOP count needs from a config: V, E, H, L, heads, feed-forward size."""

    vocab: int
    embedding: int
    hidden: int
    layers: int
    heads: int
    ffn: int

    @classmethod
    def from_config(cls, config: Any) -> EncoderShape:
        """From a BERT, RoBERTa, ELECTRA or ALBERT config (E = H without embedding_size)."""
        try:
            hidden = config.hidden_size
            return cls(
                vocab=config.vocab_size,
                embedding=getattr(config, "embedding_size", None) or hidden,
                hidden=hidden,
                layers=config.num_hidden_layers,
                heads=config.num_attention_heads,
                ffn=config.intermediate_size,
            )
        except AttributeError as err:
            raise ValueError(
                f"{type(config).__name__} is not an encoder config with hidden_size, "
                f"num_hidden_layers, num_attention_heads, intermediate_size: {err}"
            ) from None


def layer_flops(shape: EncoderShape, seq_len: int, queries: float | None = None) -> float:
    """Forward FLOPs of one encoder layer on one sequence of `seq_len` tokens.

    `queries`: the number of positions whose output is needed (None: all). With fewer, as the
    course's last layer at targets, keys and values are still projected at every position.
    """
    h, s = shape.hidden, seq_len
    q = s if queries is None else queries
    kv = 2 * (2 * s * h * h)  # key and value projections, every position
    query = 2 * q * h * h
    scores = 2 * q * s * h  # QK^T summed over the heads: q x s x (heads x head_dim = H)
    values = 2 * q * s * h  # the attention-weighted sum of the values
    output = 2 * q * h * h
    ffn = 2 * (2 * q * h * shape.ffn)
    return kv + query + scores + values + output + ffn


def forward_flops(
    shape: EncoderShape,
    seq_len: int,
    objective: str = "mlm",
    n_targets: float | None = None,
    mlm_probability: float = 0.15,
    last_layer_at_targets: bool = True,
    num_labels: int = 2,
) -> dict[str, float]:
    """Forward FLOPs for one sequence, by part: embedding projection, encoder, head, total.

    objective: "mlm" (head H -> E -> V at the `n_targets` positions, default
    mlm_probability x seq_len; with `last_layer_at_targets` the last layer runs there only, as
    `mlm.masked_lm_loss`), "discriminator" (ELECTRA's head H -> H -> 1 at every position),
    "classification" (a [CLS] head H -> H -> num_labels, as the *ForSequenceClassification
    models) or "encoder" (no head).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if seq_len <= 0:
        raise ValueError(f"seq_len must be positive, got {seq_len}")
    h, e, s = shape.hidden, shape.embedding, seq_len
    t = mlm_probability * s if n_targets is None else float(n_targets)
    if not 0 <= t <= s:
        raise ValueError(f"n_targets must be in 0..seq_len={s}, got {t}")
    parts = {"embedding_projection": 2.0 * s * e * h if e != h else 0.0}
    at_targets = objective == "mlm" and last_layer_at_targets
    full_layers = shape.layers - 1 if at_targets else shape.layers
    encoder = full_layers * layer_flops(shape, s)
    if at_targets:
        encoder += layer_flops(shape, s, queries=t)
    parts["encoder"] = encoder
    if objective == "mlm":
        parts["head"] = 2.0 * t * (h * e + e * shape.vocab)  # transform H -> E, decoder E -> V
    elif objective == "discriminator":
        parts["head"] = 2.0 * s * (h * h + h)
    elif objective == "classification":
        parts["head"] = 2.0 * (h * h + h * num_labels)
    else:
        parts["head"] = 0.0
    parts["total"] = sum(parts.values())
    return parts


def _objective_of(model: Any) -> str:
    name = type(model).__name__
    if name.endswith("ForMaskedLM"):
        return "mlm"
    if name == "ElectraForPreTraining":
        return "discriminator"
    if name.endswith("ForSequenceClassification"):
        return "classification"
    if name.endswith("Model"):
        return "encoder"
    raise ValueError(
        f"no FLOP rule for {name}: pass an ElectraPretrainingModel, a *ForMaskedLM, "
        "ElectraForPreTraining, a *ForSequenceClassification or a base *Model"
    )


def train_flops_per_step(
    model: Any,
    batch_size: int,
    seq_len: int,
    mlm_probability: float = 0.15,
    n_targets: float | None = None,
    last_layer_at_targets: bool = True,
) -> float:
    """Training FLOPs (forward + backward = 3 x forward) of one optimizer step.

    `model`: an `electra.ElectraPretrainingModel` (generator + discriminator), a *ForMaskedLM
    (with the course's targets-only loss unless last_layer_at_targets=False), an
    ElectraForPreTraining, a *ForSequenceClassification or a base encoder. `batch_size`
    sequences of `seq_len` positions; `n_targets` per sequence (default mlm_probability x
    seq_len, the expected count when every position may be selected).
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    kwargs = dict(
        n_targets=n_targets,
        mlm_probability=mlm_probability,
        last_layer_at_targets=last_layer_at_targets,
    )
    if hasattr(model, "generator") and hasattr(model, "discriminator"):  # the ELECTRA pair
        gen_config = getattr(model.generator, "config", None)  # None: a unigram generator
        gen = (
            forward_flops(EncoderShape.from_config(gen_config), seq_len, **kwargs)["total"]
            if gen_config is not None
            else 0.0  # sampling from fixed frequencies: no matmul
        )
        disc_shape = EncoderShape.from_config(model.discriminator.config)
        disc = forward_flops(disc_shape, seq_len, "discriminator")
        forward = gen + disc["total"]
    else:
        config = getattr(model, "config", None)
        if config is None:
            raise ValueError(f"{type(model).__name__} has no config: pass a transformers model")
        objective = _objective_of(model)
        if getattr(config, "model_type", "") == "albert":
            # ALBERT's shared layer groups cannot run by parts (mlm.hidden_at_targets): whole
            kwargs["last_layer_at_targets"] = False
        labels = getattr(config, "num_labels", 2)
        shape = EncoderShape.from_config(config)
        forward = forward_flops(shape, seq_len, objective, num_labels=labels, **kwargs)["total"]
    return (1.0 + BACKWARD_FACTOR) * forward * batch_size


# ---------------------------------------------------------------- the machine's peak


def measure_matmul_peak(
    device: torch.device | str = "cpu",
    size: int = 1024,
    repeats: int = 10,
    dtype: torch.dtype = torch.float32,
) -> float:
    """This machine's float32 matrix-multiply peak in FLOP/s: the best of `repeats` timed
    `size` x `size` products (2 size^3 FLOPs each) after two warm-up products.

    The physical limit a training run is measured against: a model whose matmuls are small or
    interleaved with memory-bound work reaches a fraction of it.
    """
    if size <= 0 or repeats <= 0:
        raise ValueError(f"size and repeats must be positive, got {size}, {repeats}")
    device = torch.device(device)
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(size, size, generator=gen, dtype=dtype).to(device)
    b = torch.randn(size, size, generator=gen, dtype=dtype).to(device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elif device.type == "mps":
            torch.mps.synchronize()

    for _ in range(2):
        torch.matmul(a, b)
    sync()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        sync()
        best = min(best, time.perf_counter() - t0)
    return 2.0 * size**3 / best


def achieved(flops: float, seconds: float, peak: float | None = None) -> dict[str, float]:
    """GFLOP/s achieved by `flops` in `seconds`, and its fraction of `peak` FLOP/s if given."""
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    rate = flops / seconds
    out = {"gflops_per_s": rate / 1e9}
    if peak is not None:
        if peak <= 0:
            raise ValueError(f"peak must be positive, got {peak}")
        out["fraction_of_peak"] = rate / peak
    return out
