"""course_utils.embeddings: pooling, encoding, STS scoring, anisotropy, search; rt-polarity data."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from course_utils import embeddings as emb
from course_utils.config import HUB_MODELS
from course_utils.errors import CourseError
from course_utils.metrics import load_metric

TEXTS = [
    "A man is playing a guitar.",
    "Hi",
    "The quick brown fox jumps over the lazy dog. " * 40,  # longer than 256 tokens: truncated
    "Two dogs run through a field of snow.",
    "",
]


@pytest.fixture
def offline_hub(monkeypatch, shared_hub_cache):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(shared_hub_cache))


@pytest.fixture(scope="module")
def bert_small() -> emb.Encoder:
    return emb.load_encoder("course-bert-small")


# ---------------------------------------------------------------------------------------------
# The acceptance test: the course's mean pooling equals sentence-transformers for MiniLM


def test_mean_pooling_equals_sentence_transformers_for_minilm(offline_hub, shared_hub_cache):
    from sentence_transformers import SentenceTransformer

    spec = HUB_MODELS["all-MiniLM-L6-v2"]
    encoder = emb.load_encoder("all-MiniLM-L6-v2")
    assert encoder.source == "cache"
    reference = SentenceTransformer(
        spec.repo_id,
        revision=spec.revision,
        cache_folder=str(shared_hub_cache),
        local_files_only=True,
        device="cpu",
    )
    assert reference.max_seq_length == 256  # the model card's value, used below
    expected = reference.encode(TEXTS, convert_to_tensor=True, batch_size=2)
    ours = emb.encode_one(encoder, TEXTS, "mean", -1, normalized=True, max_length=256)
    assert ours.shape == expected.shape == (len(TEXTS), 384)
    torch.testing.assert_close(ours, expected.cpu(), atol=1e-5, rtol=0)
    # and without normalisation the course's vectors are not unit length: the step matters
    raw = emb.encode_one(encoder, TEXTS, "mean", -1, max_length=256)
    assert (raw.norm(dim=1) - 1).abs().max() > 1e-2


# ---------------------------------------------------------------------------------------------
# Pooling


def _padded_batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(3, 6, 4, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    return hidden, mask


def test_mean_pool_ignores_padding_and_handles_empty_rows():
    hidden, mask = _padded_batch()
    pooled = emb.mean_pool(hidden, mask)
    torch.testing.assert_close(pooled[0], hidden[0].mean(0))
    torch.testing.assert_close(pooled[1], hidden[1, :3].mean(0))
    assert torch.equal(pooled[2], torch.zeros(4))
    changed = hidden.clone()
    changed[mask == 0] = 1e6  # whatever sits at padded positions must not matter
    torch.testing.assert_close(emb.mean_pool(changed, mask), pooled)
    half = emb.mean_pool(hidden.half(), mask)
    assert half.dtype == torch.float16


def test_max_and_cls_pool_ignore_padding():
    hidden, mask = _padded_batch(1)
    changed = hidden.clone()
    changed[mask == 0] = 1e6
    pooled = emb.max_pool(changed, mask)
    torch.testing.assert_close(pooled[1], hidden[1, :3].max(0).values)
    assert torch.equal(pooled[2], torch.zeros(4))
    left = torch.tensor([[0, 0, 1, 1, 1, 1]])  # left padding: [CLS] is the first real token
    torch.testing.assert_close(emb.cls_pool(hidden[:1], left), hidden[0, 2:3])
    torch.testing.assert_close(emb.cls_pool(hidden[:2], mask[:2]), hidden[:2, 0])


def test_pool_layers_and_bad_input():
    states = tuple(
        torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(i)) for i in range(6)
    )
    mask = torch.ones(2, 3, dtype=torch.long)
    last4 = emb.pool(states, mask, "mean", "last4")
    torch.testing.assert_close(last4, torch.stack(states[-4:]).mean(0).mean(1))
    torch.testing.assert_close(emb.pool(states, mask, "cls", 0), states[0][:, 0])
    with pytest.raises(ValueError, match="pooling must be one of"):
        emb.pool(states, mask, "sum")
    with pytest.raises(ValueError, match="layer must be"):
        emb.pool(states, mask, "mean", 9)
    with pytest.raises(ValueError, match="needs at least four layers"):
        emb.pool(states[:3], mask, "mean", "last4")
    with pytest.raises(ValueError, match="does not match"):
        emb.mean_pool(states[0], torch.ones(2, 5))


def test_cosine_matrix_matches_torch_and_zero_rows():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 8, generator=g), torch.randn(7, 8, generator=g)
    expected = F.cosine_similarity(a[:, None, :], b[None, :, :], dim=-1)
    torch.testing.assert_close(emb.cosine_matrix(a, b), expected, atol=1e-6, rtol=1e-5)
    a[0] = 0
    assert torch.isfinite(emb.cosine_matrix(a, b)).all()
    torch.testing.assert_close(emb.paired_cosine(a[1:], b[:4]), torch.diag(expected[1:, :4]))


# ---------------------------------------------------------------------------------------------
# Encoding with dynamic padding


def test_encode_keeps_order_and_matches_one_sentence_at_a_time(bert_small):
    texts = TEXTS[:4] + ["a b", "another sentence about a river"]
    batched = emb.encode(bert_small, texts, ("cls", "mean", "max"), (0, -1), batch_size=4)
    for i, text in enumerate(texts):
        single = emb.encode(bert_small, [text], ("cls", "mean", "max"), (0, -1), batch_size=1)
        for key in batched:
            torch.testing.assert_close(batched[key][i], single[key][0], atol=1e-5, rtol=1e-4)
    assert batched[("mean", -1)].shape == (len(texts), bert_small.model.config.hidden_size)
    with pytest.raises(ValueError, match="non-empty list of strings"):
        emb.encode(bert_small, [])


def test_length_sorted_batches_cover_every_index_once():
    batches = emb.length_sorted_batches([3, 9, 1, 7, 5], 2)
    assert batches == [[1, 3], [4, 0], [2]]
    with pytest.raises(ValueError):
        emb.length_sorted_batches([1], 0)


def test_course_checkpoint_pooler_is_reported_untrained(bert_small):
    # course-bert-small was trained with MLM only: a BertModel's pooler is not in the file
    assert {"pooler.dense.weight", "pooler.dense.bias"} <= set(
        bert_small.loading_info["missing_keys"]
    )
    assert "NOT a Hub checkpoint" in bert_small.description


def test_unknown_encoder_is_a_clear_error():
    with pytest.raises(CourseError, match="Unknown model"):
        emb.load_encoder("bert-huge")


def test_encoders_for_budget_and_connection():
    assert emb.encoders_for("ci", online=True) == list(emb.OFFLINE_ENCODERS)
    assert emb.encoders_for("cpu", online=False) == list(emb.OFFLINE_ENCODERS)
    assert set(emb.BASE_ENCODERS) <= set(emb.encoders_for("cpu", online=True))
    assert all(name in HUB_MODELS for name in emb.BASE_ENCODERS)


# ---------------------------------------------------------------------------------------------
# STS, anisotropy, search


def test_sts_grid_scores_cosine_against_gold(bert_small, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    metric = load_metric("spearmanr", verbose=False)
    s1 = ["a cat sits", "a man plays music", "the river is long", "he eats bread"]
    s2 = ["a cat sat down", "a woman plays music", "stocks fell today", "bread is eaten by him"]
    table = emb.sts_grid(bert_small, s1, s2, [4.5, 3.0, 0.2, 4.0], metric)
    assert list(table.columns) == ["cls", "mean", "max"]
    assert list(table.index) == ["layer 0", "layer 1", "layer 2"]  # 2 layers: no last-four row
    # Layer 0 [CLS] is one lookup, identical for every sentence: constant cosines, no ranking
    assert table.isna().sum().sum() == 1 and pd.isna(table.loc["layer 0", "cls"])
    assert ((table.fillna(0) >= -100) & (table.fillna(0) <= 100)).all().all()
    vectors = emb.encode(bert_small, s1 + s2, ("mean",), (2,))[("mean", 2)]
    cos = emb.paired_cosine(vectors[:4], vectors[4:])
    from scipy.stats import spearmanr

    expected = 100 * spearmanr(cos.numpy(), [4.5, 3.0, 0.2, 4.0]).statistic
    assert table.loc["layer 2", "mean"] == pytest.approx(expected, abs=1e-6)


def test_anisotropy_by_layer(bert_small):
    texts = ["the cat sat on the mat", "stock markets fell sharply", "a river flows to the sea"]
    values = emb.anisotropy_by_layer(bert_small, texts * 3, n_pairs=200)
    assert len(values) == bert_small.n_layers + 1
    assert all(-1 <= v <= 1 for v in values)


def test_top_k_is_exact():
    g = torch.Generator().manual_seed(0)
    corpus, queries = torch.randn(50, 16, generator=g), torch.randn(3, 16, generator=g)
    scores, index = emb.top_k(queries, corpus, k=4)
    full = F.cosine_similarity(queries[:, None], corpus[None], dim=-1)
    assert torch.equal(index, full.argsort(dim=1, descending=True)[:, :4])
    torch.testing.assert_close(scores, full.sort(dim=1, descending=True).values[:, :4])
    assert emb.time_per_query(queries, corpus) > 0
    assert emb.top_k(queries, corpus[:2], k=5)[1].shape == (3, 2)


def test_projection_explorer_static_only_headless(monkeypatch):
    import numpy as np

    monkeypatch.setenv("COURSE_WIDGETS", "0")
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    points = np.random.default_rng(0).normal(size=(10, 2))
    fig = emb.projection_explorer(
        {"a": (points, np.array([0.3, 0.2]))}, [0, 1] * 5, ["neg", "pos"], ["t"] * 10
    )
    assert shown == [fig]  # the static figure and nothing else (no widget view)


# ---------------------------------------------------------------------------------------------
# rt-polarity (data.py): offline split


def test_rt_polarity_offline_split(monkeypatch, shared_data_dir):
    from course_utils.data import RT_POLARITY_SPLIT, load_course_dataset

    monkeypatch.setenv("COURSE_DATA_DIR", str(shared_data_dir))
    ds = load_course_dataset("rt-polarity")
    assert [len(ds[s]) for s in ("train", "validation", "test")] == list(RT_POLARITY_SPLIT)
    texts = [set(ds[s]["text"]) for s in ("train", "validation", "test")]
    assert sum(map(len, texts)) == 10_662  # every snippet once (no duplicate lines in the files)
    assert not (texts[0] & texts[1]) and not (texts[0] & texts[2]) and not (texts[1] & texts[2])
    assert ds["train"].features["label"].names == ["neg", "pos"]
    assert 0.45 < sum(ds["test"]["label"]) / len(ds["test"]) < 0.55
    again = load_course_dataset("rt-polarity", split="test")
    assert again["text"] == ds["test"]["text"]  # the seed fixes the split
    assert any("é" in t for t in ds["train"]["text"])  # decoded as cp1252, not mangled


# ---------------------------------------------------------------------------------------------
# Frozen features + logistic regression, and the bag-of-words baseline


def test_probe_learns_separable_features_and_not_noise():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (400,), generator=g)
    signal = torch.randn(400, 8, generator=g) + 3 * labels[:, None].float()
    noise = torch.randn(400, 8, generator=g)
    y = labels.tolist()
    assert emb.probe_accuracy(signal[:300], y[:300], signal[300:], y[300:]) > 0.95
    assert emb.probe_accuracy(noise[:300], y[:300], noise[300:], y[300:]) < 0.7


def test_bag_of_words_uses_words_and_token_ids_are_plain_numbers(bert_small):
    train = ["a wonderful film", "a dull film", "wonderful acting", "dull and long"] * 10
    labels = [1, 0, 1, 0] * 10
    assert emb.bag_of_words_accuracy(train, labels, ["wonderful", "dull"], [1, 0]) == 1.0
    ids = emb.token_id_matrix(bert_small.tokenizer, ["a b c", "a much longer sentence here"], 6)
    assert ids.shape == (2, 6) and ids.dtype == float
    assert ids[0, -1] == bert_small.tokenizer.pad_token_id  # padded to the fixed width
