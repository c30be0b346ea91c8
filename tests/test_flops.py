"""course_utils.flops: a hand count, torch's FlopCounterMode on every course model, the peak."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode
from transformers import (
    AlbertConfig,
    AlbertForMaskedLM,
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    ElectraConfig,
    ElectraForPreTraining,
    ElectraForSequenceClassification,
)

from course_utils import flops
from course_utils.electra import ElectraPretrainingModel, electra_loss, generator_config
from course_utils.mlm import masked_lm_loss

SMALL = dict(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2)
SMALL.update(intermediate_size=32, max_position_embeddings=16)
B, S, T = 2, 10, 3  # batch, sequence length, targets per sequence
TARGETS = [1, 4, 7]


def _batch(vocab: int = 50) -> dict[str, torch.Tensor]:
    ids = torch.randint(5, vocab, (B, S), generator=torch.Generator().manual_seed(0))
    labels = torch.full_like(ids, -100)
    labels[:, TARGETS] = ids[:, TARGETS]  # the same number of targets in every row
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}


def _measured(step) -> int:
    """FLOPs torch counts for one forward + backward; the math SDPA backend decomposes attention
    into matmuls that FlopCounterMode sees (the fused CPU kernel is not counted)."""
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        step().backward()
    return counter.get_total_flops()


def test_hand_count_of_one_small_bert():
    """H=16, L=2, FFN 32, V=50, 10 tokens, 3 targets, batch 2, the course loss."""
    h, f, v, s, t = 16, 32, 50, 10, 3
    full_layer = (
        4 * 2 * s * h * h  # Q, K, V, output projections: 20,480
        + 2 * s * s * h  # scores QK^T: 3,200
        + 2 * s * s * h  # weighted sum of values: 3,200
        + 2 * 2 * s * h * f  # feed-forward pair: 20,480
    )
    assert full_layer == 47_360
    last_layer = (
        2 * 2 * s * h * h  # keys and values at all 10 positions: 10,240
        + 2 * 2 * t * h * h  # queries and output projection at the 3 targets: 3,072
        + 2 * 2 * t * s * h  # scores and values for 3 queries: 1,920
        + 2 * 2 * t * h * f  # feed-forward at the targets: 6,144
    )
    assert last_layer == 21_376
    head = 2 * t * (h * h + h * v)  # transform + vocabulary projection at the targets: 6,336
    train = 3 * B * (full_layer + last_layer + head)
    assert train == 450_432
    model = BertForMaskedLM(BertConfig(**SMALL))
    assert flops.train_flops_per_step(model, B, S, n_targets=T) == train
    parts = flops.forward_flops(flops.EncoderShape.from_config(model.config), S, n_targets=T)
    assert parts == {
        "embedding_projection": 0.0,
        "encoder": full_layer + last_layer,
        "head": head,
        "total": full_layer + last_layer + head,
    }


@pytest.mark.parametrize("at_targets", [True, False])
def test_mlm_count_equals_torch_flop_counter(at_targets):
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(**SMALL))
    batch = _batch()
    measured = _measured(lambda: masked_lm_loss(model, batch, at_targets).loss)
    expected = flops.train_flops_per_step(
        model, B, S, n_targets=T, last_layer_at_targets=at_targets
    )
    assert measured == expected


def test_albert_counts_factorised_embedding_and_runs_whole():
    torch.manual_seed(0)
    config = AlbertConfig(**SMALL, embedding_size=8)
    model = AlbertForMaskedLM(config)
    batch = _batch()
    measured = _measured(lambda: masked_lm_loss(model, batch).loss)
    # ALBERT's shared layer group cannot run by parts: the count knows it runs whole
    assert measured == flops.train_flops_per_step(model, B, S, n_targets=T)
    parts = flops.forward_flops(flops.EncoderShape.from_config(config), S, n_targets=T)
    assert parts["embedding_projection"] == 2 * S * 8 * 16


def test_electra_pair_is_generator_plus_discriminator():
    torch.manual_seed(0)
    disc = ElectraConfig(**SMALL, embedding_size=16)
    gen = generator_config(disc, hidden_fraction=0.5)  # H=8 < E=16: embeddings_project
    pair = ElectraPretrainingModel.from_configs(disc, gen)
    batch = _batch()
    measured = _measured(lambda: electra_loss(pair, batch).loss)
    expected = flops.train_flops_per_step(pair, B, S, n_targets=T)
    assert measured == expected
    g = flops.forward_flops(flops.EncoderShape.from_config(gen), S, n_targets=T)
    d = flops.forward_flops(flops.EncoderShape.from_config(disc), S, "discriminator")
    assert g["embedding_projection"] == 2 * S * 16 * 8
    assert d["head"] == 2 * S * (16 * 16 + 16)  # dense H -> H and H -> 1 at every position
    assert expected == 3 * B * (g["total"] + d["total"])


@pytest.mark.parametrize(
    "make",
    [
        lambda: ElectraForPreTraining(ElectraConfig(**SMALL, embedding_size=16)),
        lambda: BertForSequenceClassification(BertConfig(**SMALL, num_labels=2)),
        lambda: ElectraForSequenceClassification(ElectraConfig(**SMALL, num_labels=3)),
    ],
)
def test_other_heads_equal_torch_flop_counter(make):
    torch.manual_seed(0)
    model = make()
    batch = _batch()
    measured = _measured(lambda: model(input_ids=batch["input_ids"]).logits.sum())
    assert measured == flops.train_flops_per_step(model, B, S)


def test_agrees_with_the_mlm_time_estimate():
    from course_utils.mlm import model_size, small_bert_config, train_flops

    model = BertForMaskedLM(small_bert_config(1000, "ci"))
    size = model_size("ci")
    # mlm.train_flops (the time estimates) counts the course loss: head and last layer at targets
    assert flops.train_flops_per_step(model, 8, size.block) == pytest.approx(
        train_flops(size, 1000, 8)
    )
    whole = flops.train_flops_per_step(model, 8, size.block, last_layer_at_targets=False)
    assert whole > train_flops(size, 1000, 8)


def test_bad_input_is_refused():
    shape = flops.EncoderShape.from_config(BertConfig(**SMALL))
    with pytest.raises(ValueError, match="objective"):
        flops.forward_flops(shape, 10, "nsp")
    with pytest.raises(ValueError, match="n_targets"):
        flops.forward_flops(shape, 10, n_targets=11)
    with pytest.raises(ValueError, match="no config"):
        flops.train_flops_per_step(torch.nn.Linear(2, 2), 1, 1)
    bert_lm_head = BertForMaskedLM(BertConfig(**SMALL)).cls  # a module without a FLOP rule
    bert_lm_head.config = BertConfig(**SMALL)
    with pytest.raises(ValueError, match="no FLOP rule"):
        flops.train_flops_per_step(bert_lm_head, 1, 1)
    with pytest.raises(ValueError, match="not an encoder config"):
        flops.EncoderShape.from_config(object())


def test_peak_and_achieved_rate():
    peak = flops.measure_matmul_peak(size=128, repeats=3)
    assert math.isfinite(peak) and peak > 1e6  # any CPU does > 1 MFLOP/s
    rate = flops.achieved(4e9, 2.0, peak=8e9)
    assert rate == {"gflops_per_s": 2.0, "fraction_of_peak": 0.25}
    with pytest.raises(ValueError, match="seconds"):
        flops.achieved(1.0, 0.0)
