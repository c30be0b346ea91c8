"""course_utils.albert: parameter counts by formula = by code, sharing variants, SOP/NSP pairs."""

from __future__ import annotations

import random

import pytest
import torch
from transformers import AlbertConfig, AlbertForPreTraining, BertConfig

from course_utils.albert import (
    ALBERT_BASE_V2,
    PAPER_TABLE1,
    SHARING,
    PairCollator,
    albert_base_config,
    build_encoder,
    count_parameters,
    mlm_and_order_loss,
    n_params,
    nsp_pairs,
    order_accuracy,
    paper_config,
    small_albert_config,
    sop_pairs,
    split_articles,
)
from course_utils.mlm import TrainConfig, small_bert_config, train_mlm
from course_utils.tokenization import train_wordpiece


def test_reference_counts() -> None:
    assert count_parameters(BertConfig())["total"] == 109_482_240
    assert n_params(build_encoder(BertConfig())) == 109_482_240
    assert count_parameters(albert_base_config())["total"] == 11_683_584
    assert n_params(build_encoder(albert_base_config())) == 11_683_584


def _small(**kw) -> AlbertConfig:
    base = dict(
        vocab_size=97,
        embedding_size=8,
        hidden_size=16,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=24,
        max_position_embeddings=20,
    )
    return AlbertConfig(**{**base, **kw})


CONFIGS = [
    _small(),
    _small(embedding_size=16),  # E = H: the projection is still there in the code
    _small(num_hidden_groups=2),
    _small(num_hidden_groups=4, inner_group_num=2),
    _small(num_hidden_layers=6, num_hidden_groups=3, type_vocab_size=1),
    BertConfig(
        vocab_size=50, hidden_size=12, num_hidden_layers=3, num_attention_heads=3,
        intermediate_size=20, max_position_embeddings=10, type_vocab_size=3,
    ),
    small_bert_config(1000, "ci"),
    small_albert_config(1000, "ci"),
    small_albert_config(1000, "cpu"),
]  # fmt: skip


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.model_type}")
def test_formula_equals_code(config) -> None:
    assert count_parameters(config)["total"] == n_params(build_encoder(config))
    no_pool = count_parameters(config, pooler=False)
    model = build_encoder(config)
    assert no_pool["total"] == n_params(model) - n_params(model.pooler)


@pytest.mark.parametrize("name", list(PAPER_TABLE1))
def test_paper_table1_formula_equals_code(name: str) -> None:
    config = paper_config(name)
    if config.hidden_size > 1024:  # xlarge/xxlarge: count the same shape with 2 layers
        config = paper_config(name, num_hidden_layers=2)
    assert count_parameters(config)["total"] == n_params(build_encoder(config))


@pytest.mark.parametrize("embedding", [4, 16])
@pytest.mark.parametrize("sharing", SHARING)
def test_sharing_variants_count_and_storage(sharing: str, embedding: int) -> None:
    config = _small(embedding_size=embedding)
    model = build_encoder(config, sharing)
    assert n_params(model) == count_parameters(config, sharing)["total"]
    layers = [g.albert_layers[0] for g in model.encoder.albert_layer_groups]
    att = {layer.attention.query.weight.data_ptr() for layer in layers}
    ffn = {layer.ffn.weight.data_ptr() for layer in layers}
    ln = {layer.full_layer_layer_norm.weight.data_ptr() for layer in layers}
    n = 1 if sharing == "all" else config.num_hidden_layers
    assert len(layers) == n
    assert len(att) == (1 if sharing in ("attention", "all") else n)
    assert len(ffn) == len(ln) == (1 if sharing in ("ffn", "all") else n)
    # a tied module really is one tensor: changing it changes every layer
    with torch.no_grad():
        layers[0].attention.query.weight.add_(1.0)
    if sharing in ("attention", "all"):
        assert torch.equal(layers[-1].attention.query.weight, layers[0].attention.query.weight)
    else:
        assert not torch.equal(layers[-1].attention.query.weight, layers[0].attention.query.weight)
    out = model(torch.randint(0, 97, (2, 7)))  # still runs
    assert out.last_hidden_state.shape == (2, 7, 16)


def test_sharing_order_of_counts() -> None:
    totals = {s: count_parameters(albert_base_config(), s)["total"] for s in SHARING}
    assert totals["all"] < totals["ffn"] < totals["attention"] < totals["none"]
    assert totals["all"] == 11_683_584
    # not-shared = 12 distinct layers: 11 more layers than all-shared
    layer = (totals["none"] - totals["all"]) // 11
    assert layer * 11 == totals["none"] - totals["all"] == 11 * 7_087_872


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="sharing"):
        count_parameters(albert_base_config(), "layers")
    with pytest.raises(ValueError, match="ALBERT"):
        build_encoder(BertConfig(), "all")
    with pytest.raises(ValueError, match="lacks"):
        count_parameters(object())
    with pytest.raises(ValueError, match="unknown model"):
        paper_config("ALBERT-huge")
    with pytest.raises(ValueError, match="embedding_size"):
        small_albert_config(1000, "ci", embedding_size=128)


def test_small_albert_config_follows_the_budget() -> None:
    for budget in ("ci", "cpu", "gpu"):
        bert, albert = small_bert_config(500, budget), small_albert_config(500, budget)
        for field in ("hidden_size", "num_hidden_layers", "num_attention_heads"):
            assert getattr(albert, field) == getattr(bert, field)
        assert albert.intermediate_size == bert.intermediate_size
        assert albert.max_position_embeddings == bert.max_position_embeddings
        assert albert.embedding_size < albert.hidden_size
        assert albert.num_hidden_groups == albert.inner_group_num == 1
        assert n_params(build_encoder(albert)) < n_params(build_encoder(bert))
    assert ALBERT_BASE_V2["embedding_size"] == 128


def _docs(n: int = 30, seed: int = 0) -> list[list[int]]:
    rng = random.Random(seed)
    # document d holds the tokens (d, 0), (d, 1), ...: order and origin are readable
    return [[(d, i) for i in range(rng.randint(0, 60))] for d in range(n)]


@pytest.mark.parametrize("segment_len", [1, 3, 8])
def test_sop_pairs_properties(segment_len: int) -> None:
    docs = _docs()
    pairs = sop_pairs(docs, segment_len, seed=1)
    for p in pairs:
        assert p.first and p.second
        assert len(p.first) + len(p.second) <= 2 * segment_len + 1
        assert {t[0] for t in p.first + p.second} == {p.document}  # one document
        ordered = p.first + p.second if p.label == 0 else p.second + p.first
        idx = [t[1] for t in ordered]
        assert idx == list(range(idx[0], idx[0] + len(idx)))  # consecutive, in order
    for d, doc in enumerate(docs):  # no token lost, none duplicated
        mine = [p for p in pairs if p.document == d]
        rebuilt = [
            t for p in mine for t in (p.first + p.second if p.label == 0 else p.second + p.first)
        ]
        assert rebuilt == (doc if len(doc) >= 2 else [])
    rate = sum(p.label for p in pairs) / len(pairs)
    assert 0.35 < rate < 0.65, rate
    assert sop_pairs(docs, segment_len, seed=1) == pairs  # seeded
    assert sop_pairs(docs, segment_len, seed=2) != pairs


def test_sop_swap_rate_is_one_half() -> None:
    pairs = sop_pairs([list(range(20_000))], 2, seed=0)
    rate = sum(p.label for p in pairs) / len(pairs)
    assert abs(rate - 0.5) < 0.02, rate  # 5,000 pairs: 0.02 is ~2.8 standard deviations


def test_nsp_pairs_properties() -> None:
    docs = _docs()
    pairs = nsp_pairs(docs, 4, seed=0)
    labels = [p.label for p in pairs]
    assert 0.35 < sum(labels) / len(labels) < 0.65
    for p in pairs:
        assert {t[0] for t in p.first} == {p.document}
        origin = {t[0] for t in p.second}
        assert len(origin) == 1
        if p.label == 0:
            assert origin == {p.document}
            assert p.second[0][1] == p.first[-1][1] + 1  # B follows A
        else:
            assert origin != {p.document}  # B from another document
    with pytest.raises(ValueError, match="two documents"):
        nsp_pairs([[1, 2, 3]], 2)
    with pytest.raises(ValueError, match="segment_len"):
        sop_pairs(docs, 0)
    with pytest.raises(ValueError, match="documents"):
        sop_pairs("a text, not documents", 2)


def test_split_articles() -> None:
    lines = [" \n", " = Apple = \n", " \n", " Apples grow . \n", " = = History = = \n",
             " Old . \n", " = Pear = \n", " Pears too . \n"]  # fmt: skip
    assert split_articles(lines) == [
        ["= Apple =", "Apples grow .", "= = History = =", "Old ."],
        ["= Pear =", "Pears too ."],
    ]


WORDS = "the a cat dog sat ran on under mat tree big small red blue quickly slowly".split()


@pytest.fixture(scope="module")
def tokenizer():
    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 20))) for _ in range(300)]
    return train_wordpiece(texts, 200)


def test_collator_and_loss_train(tokenizer) -> None:
    rng = random.Random(0)
    docs = [
        [rng.randrange(5, len(tokenizer)) for _ in range(rng.randint(20, 80))] for _ in range(20)
    ]
    pairs = sop_pairs(docs, 10, seed=0)
    collator = PairCollator(tokenizer, max_length=16, seed=0)
    batch = collator(pairs[:6])
    plain = PairCollator(tokenizer, max_length=16, mlm_probability=0.0)(pairs[:6])
    assert (plain["input_ids"] != batch["input_ids"]).any()  # the MLM masks are there
    assert plain["labels"].eq(-100).all()  # and none without MLM
    ids, types = plain["input_ids"], plain["token_type_ids"]
    assert ids.shape[1] <= 16 and ids.shape == types.shape == batch["labels"].shape
    assert (ids[:, 0] == tokenizer.cls_token_id).all()
    assert batch["order_labels"].tolist() == [p.label for p in pairs[:6]]
    sep = (ids[0] == tokenizer.sep_token_id).nonzero().flatten().tolist()
    assert len(sep) == 2  # [CLS] A [SEP] B [SEP], A and B truncated to fit 16
    assert types[0, : sep[0] + 1].eq(0).all() and types[0, sep[0] + 1 : sep[1] + 1].eq(1).all()
    assert sep[1] + 1 == 16 and batch["attention_mask"][0].all()
    config = small_albert_config(len(tokenizer), "ci", max_position_embeddings=16)
    torch.manual_seed(0)
    model = AlbertForPreTraining(config)
    loader = torch.utils.data.DataLoader(pairs, batch_size=8, collate_fn=collator)
    history = train_mlm(
        model, loader, TrainConfig(steps=4, batch_size=8), progress=False,
        loss_fn=mlm_and_order_loss, device="cpu",
    )  # fmt: skip
    assert len(history.train_loss) == 4 and all(x > 0 for x in history.train_loss)
    clean = PairCollator(tokenizer, max_length=16, mlm_probability=0.0)
    acc = order_accuracy(model, [clean(pairs[i : i + 8]) for i in range(0, 24, 8)])
    assert 0.0 <= acc <= 1.0
    with pytest.raises(ValueError, match="order_labels"):
        mlm_and_order_loss(model, {k: v for k, v in batch.items() if k != "order_labels"})
