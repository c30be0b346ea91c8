"""course_utils.mlm: masked-only MLM loss equals the stock loss; evaluation; baselines; training."""

from __future__ import annotations

import math
import random

import pytest
import torch
from transformers import (
    AlbertConfig,
    AlbertForMaskedLM,
    BertForMaskedLM,
    DataCollatorForLanguageModeling,
    ElectraConfig,
    ElectraForMaskedLM,
    RobertaForMaskedLM,
)

from course_utils.mlm import (
    IGNORE_INDEX,
    TrainConfig,
    _layers_by_parts,
    evaluate_batches,
    evaluate_mlm,
    full_vocab_loss,
    init_range,
    majority_baseline,
    make_eval_batches,
    masked_lm_loss,
    mlm_parts,
    model_size,
    optimizer_groups,
    small_bert_config,
    small_roberta_config,
    train_mlm,
)
from course_utils.tokenization import train_byte_level_bpe, train_wordpiece

WORDS = "the a cat dog sat ran on under mat tree big small red blue quickly slowly".split()


def _texts(n: int = 400, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 20))) for _ in range(n)]


@pytest.fixture(scope="module")
def tokenizers() -> dict:
    texts = _texts()
    return {"bert": train_wordpiece(texts, 200), "roberta": train_byte_level_bpe(texts, 300)}


def _model(family: str, tokenizer, seed: int = 0):
    torch.manual_seed(seed)
    if family == "bert":
        return BertForMaskedLM(small_bert_config(len(tokenizer), "ci"))
    if family in ("electra", "albert"):  # generator with E != H (embeddings_project); ALBERT
        sizes = dict(vocab_size=len(tokenizer), embedding_size=32, hidden_size=64)
        sizes.update(num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)
        if family == "electra":
            return ElectraForMaskedLM(ElectraConfig(**sizes))
        return AlbertForMaskedLM(AlbertConfig(**sizes))
    config = small_roberta_config(
        len(tokenizer),
        "ci",
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return RobertaForMaskedLM(config)


def _blocks(tokenizer, n: int = 24, seed: int = 1) -> dict[str, torch.Tensor]:
    enc = tokenizer(
        _texts(n, seed), truncation=True, max_length=32, padding="max_length", return_tensors="pt"
    )
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def _batch(tokenizer, n: int = 8, seed: int = 1) -> dict[str, torch.Tensor]:
    blocks = _blocks(tokenizer, n, seed)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, seed=seed)
    rows = [{k: v[i] for k, v in blocks.items()} for i in range(n)]
    return {k: v for k, v in collator(rows).items() if k != "token_type_ids"}


def test_configs_follow_budget_and_roberta_conventions() -> None:
    size = model_size("ci")
    bert = small_bert_config(1000, "ci")
    assert (bert.hidden_size, bert.num_hidden_layers, bert.num_attention_heads) == (64, 2, 2)
    assert bert.max_position_embeddings == size.block
    assert model_size("cpu").hidden > size.hidden
    roberta = small_roberta_config(1000, "ci")
    assert roberta.max_position_embeddings == size.block + 2  # positions start at padding_idx + 1
    assert roberta.type_vocab_size == 1 and roberta.layer_norm_eps == 1e-5
    assert (roberta.pad_token_id, roberta.bos_token_id, roberta.eos_token_id) == (1, 0, 2)
    # the course recipe: init std 1/sqrt(H) (BERT's 0.02 leaves H=128 on the unigram plateau), no
    # dropout; overrides win
    assert init_range(64) == 0.125 and init_range(128) == 0.088 and init_range(768) == 0.036
    for config in (bert, roberta):
        assert config.initializer_range == init_range(config.hidden_size)
        assert config.hidden_dropout_prob == config.attention_probs_dropout_prob == 0.0
    assert small_bert_config(1000, "ci", hidden_dropout_prob=0.1).hidden_dropout_prob == 0.1
    ci, cpu = TrainConfig.for_budget("ci"), TrainConfig.for_budget("cpu", seed=3)
    assert ci.steps < cpu.steps and cpu.seed == 3 and cpu.warmup_steps <= cpu.steps


@pytest.mark.parametrize(
    "call",
    [
        lambda: small_bert_config(0, "ci"),
        lambda: small_roberta_config(100, "ci", pad_token_id=100),
        lambda: TrainConfig(steps=0, batch_size=8),
        lambda: TrainConfig(steps=10, batch_size=8, warmup_steps=11),
        lambda: mlm_parts(torch.nn.Linear(2, 2)),
    ],
)
def test_bad_input_raises_value_error(call) -> None:
    with pytest.raises(ValueError):
        call()


@pytest.mark.parametrize("last_layer_at_targets", [True, False])
@pytest.mark.parametrize("family", ["bert", "roberta", "electra", "albert"])
def test_masked_only_loss_and_gradients_match_stock(
    family: str, last_layer_at_targets: bool, tokenizers: dict
) -> None:
    tokenizer = tokenizers["roberta" if family == "roberta" else "bert"]
    model = _model(family, tokenizer).eval()  # eval: no dropout, so both passes are identical
    batch = _batch(tokenizer)  # padded rows: the last layer's keys must skip the padding
    assert bool((batch["attention_mask"] == 0).any())
    ours = masked_lm_loss(model, batch, last_layer_at_targets=last_layer_at_targets)
    stock = model(**batch).loss
    n_targets = int((batch["labels"] != IGNORE_INDEX).sum())
    assert ours.logits.shape == (n_targets, len(tokenizer))
    assert torch.equal(ours.labels, batch["labels"][batch["labels"] != IGNORE_INDEX])
    assert abs(ours.loss.item() - stock.item()) < 1e-5
    assert abs(full_vocab_loss(model, batch).loss.item() - stock.item()) < 1e-6
    params = [p for p in model.parameters() if p.requires_grad]
    grads_ours = torch.autograd.grad(ours.loss, params, allow_unused=True)
    grads_stock = torch.autograd.grad(stock, params, allow_unused=True)
    for g1, g2 in zip(grads_ours, grads_stock, strict=True):
        assert (g1 is None) == (g2 is None)
        if g1 is not None:
            torch.testing.assert_close(g1, g2, atol=1e-6, rtol=1e-4)


def test_last_layer_runs_by_parts_only_where_it_can(tokenizers: dict) -> None:
    tok = tokenizers["bert"]
    for family in ("bert", "roberta", "electra"):
        tokenizer = tokenizers["roberta" if family == "roberta" else "bert"]
        assert _layers_by_parts(_model(family, tokenizer).base_model) is not None, family
    assert _layers_by_parts(_model("albert", tok).base_model) is None  # shared groups: whole


def test_last_layer_at_targets_with_segments_and_dropout(tokenizers: dict) -> None:
    tokenizer = tokenizers["bert"]
    torch.manual_seed(0)
    dropout = dict(hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    model = BertForMaskedLM(small_bert_config(len(tokenizer), "ci", **dropout)).eval()
    batch = _batch(tokenizer)
    batch["token_type_ids"] = (
        (torch.arange(batch["input_ids"].shape[1]) >= 10)
        .long()
        .expand(batch["input_ids"].shape[0], -1)
    )
    ours = masked_lm_loss(model, batch).loss
    torch.testing.assert_close(ours, model(**batch).loss, atol=1e-5, rtol=1e-5)
    model.train()  # dropout on: a different number each pass, but finite and trainable
    loss = masked_lm_loss(model, batch).loss
    loss.backward()
    assert (
        torch.isfinite(loss)
        and model.bert.encoder.layer[-1].attention.self.query.weight.grad.abs().sum() > 0
    )


def test_batch_without_targets_gives_zero_loss(tokenizers: dict) -> None:
    tokenizer = tokenizers["bert"]
    model = _model("bert", tokenizer)
    batch = _batch(tokenizer)
    batch["labels"] = torch.full_like(batch["labels"], IGNORE_INDEX)
    out = masked_lm_loss(model, batch)
    assert out.loss.item() == 0.0 and out.loss.requires_grad
    with pytest.raises(ValueError, match="labels"):
        masked_lm_loss(model, {"input_ids": batch["input_ids"]})


def test_eval_masks_are_fixed_and_cover_every_block(tokenizers: dict) -> None:
    tokenizer = tokenizers["bert"]
    blocks = _blocks(tokenizer, n=24)
    first = make_eval_batches(blocks, tokenizer, batch_size=10, seed=7)
    again = make_eval_batches(blocks, tokenizer, batch_size=10, seed=7)
    other = make_eval_batches(blocks, tokenizer, batch_size=10, seed=8)
    assert [len(b["input_ids"]) for b in first] == [10, 10, 4]  # the complete split, no sampling
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a["labels"], b["labels"]) and torch.equal(a["input_ids"], b["input_ids"])
    assert not all(torch.equal(a["labels"], b["labels"]) for a, b in zip(first, other, strict=True))
    labels = torch.cat([b["labels"] for b in first])
    targets = labels != IGNORE_INDEX
    assert not targets[blocks["attention_mask"] == 0].any()  # padding is never a target
    special = torch.tensor(tokenizer.all_special_ids)
    assert not torch.isin(labels[targets], special).any()

    model = _model("bert", tokenizer)
    metrics = evaluate_mlm(model, blocks, tokenizer, batch_size=10, seed=7)
    assert metrics["n_targets"] == int(targets.sum())
    assert metrics["perplexity"] == pytest.approx(math.exp(metrics["loss"]))
    assert abs(metrics["loss"] - math.log(len(tokenizer))) < 1.0  # untrained: ~uniform guess
    assert model.training  # evaluation restores the mode it found
    assert evaluate_batches(model, first) == metrics


def test_majority_baseline_by_hand() -> None:
    train = {"input_ids": torch.tensor([[2, 5, 5, 5, 6, 0]]), "attention_mask": torch.ones(1, 6)}
    train["attention_mask"][0, -1] = 0  # the padding token 0 is not counted
    targets = torch.tensor([[5, 6, 7, IGNORE_INDEX]])
    out = majority_baseline(train, targets, vocab_size=8, exclude_ids=[2])
    assert out["majority_token_id"] == 5 and out["n_targets"] == 3
    assert out["accuracy"] == pytest.approx(1 / 3)
    # add-one smoothing over 8 ids: 5 -> 3+1, 6 -> 1+1, the six others (2 excluded) -> 1 each
    total = 4 + 2 + 6
    expected = -(math.log(4 / total) + math.log(2 / total) + math.log(1 / total)) / 3
    assert out["loss"] == pytest.approx(expected)
    assert out["perplexity"] == pytest.approx(math.exp(expected))
    with pytest.raises(ValueError):
        majority_baseline(train, torch.full((1, 3), IGNORE_INDEX))


def test_weight_decay_skips_biases_and_layernorm(tokenizers: dict) -> None:
    model = _model("bert", tokenizers["bert"])
    decay, no_decay = optimizer_groups(model, 0.01)
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(p.ndim == 2 for p in decay["params"])
    assert any("LayerNorm.weight" in names[id(p)] for p in no_decay["params"])
    assert any(names[id(p)].endswith("bias") for p in no_decay["params"])
    assert no_decay["weight_decay"] == 0.0 and decay["weight_decay"] == 0.01


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_train_mlm_learns_and_records_history(family: str, tokenizers: dict) -> None:
    tokenizer = tokenizers[family]
    model = _model(family, tokenizer)
    batches = [_batch(tokenizer, n=8, seed=s) for s in range(3)]  # a list restarts each epoch
    valid = make_eval_batches(_blocks(tokenizer, 16, seed=9), tokenizer, batch_size=8)
    before = evaluate_batches(model, valid)["loss"]
    config = TrainConfig(steps=24, batch_size=8, lr=3e-3, warmup_steps=4, eval_every=12)
    history = train_mlm(model, batches, config, valid=valid, device="cpu", progress=False)
    assert history.steps == list(range(1, 25)) and len(history.step_seconds) == 24
    assert [row["step"] for row in history.evals] == [12, 24]
    # the fixture tokenizer varies between runs: one clean-clone run dropped only 0.48 nats
    assert history.final_eval["loss"] < before - 0.3
    assert history.tokens_seen[-1] > history.tokens_seen[0] > 0
    assert sum(history.train_loss[-5:]) < sum(history.train_loss[:5])
    assert max(history.lr) == pytest.approx(3e-3) and history.lr[-1] == pytest.approx(0.0)


def test_train_mlm_reports_an_exhausted_iterator(tokenizers: dict) -> None:
    tokenizer = tokenizers["bert"]
    model = _model("bert", tokenizer)
    batches = iter([_batch(tokenizer)] * 2)  # an iterator cannot restart
    with pytest.raises(ValueError, match="ran out at step 3"):
        train_mlm(model, batches, TrainConfig(steps=5, batch_size=8), progress=False)


def test_train_mlm_is_reproducible(tokenizers: dict) -> None:
    tokenizer = tokenizers["bert"]
    batches = [_batch(tokenizer, seed=s) for s in range(2)]
    config = TrainConfig(steps=5, batch_size=8, seed=3)
    runs = [
        train_mlm(_model("bert", tokenizer), batches, config, device="cpu", progress=False)
        for _ in range(2)
    ]
    assert runs[0].train_loss == runs[1].train_loss  # dropout drawn from config.seed


def test_accuracy_by_target_kind_separates_copyable_targets():
    import torch.nn.functional as F
    from torch import nn

    from course_utils.mlm import MLMOutput, accuracy_by_target_kind

    class Copier(nn.Module):
        """Predicts exactly the token it is shown: right on unchanged targets only."""

        def __init__(self, vocab: int) -> None:
            super().__init__()
            self.vocab = vocab
            self.weight = nn.Parameter(torch.zeros(1))

    mask_id, vocab = 4, 20
    shown = torch.tensor([[mask_id, 6, 11, 8, mask_id, 10]])
    labels = torch.tensor([[5, 6, 7, -100, 9, 10]])  # mask, unchanged, random, -, mask, unchanged
    logits = F.one_hot(shown, vocab).float()[labels != -100]

    def fake_loss(model, batch):
        return MLMOutput(torch.tensor(0.0), logits, batch["labels"][batch["labels"] != -100])

    import course_utils.mlm as mlm

    original = mlm.masked_lm_loss
    mlm.masked_lm_loss = fake_loss
    try:
        result = accuracy_by_target_kind(
            Copier(vocab), [{"input_ids": shown, "labels": labels}], mask_id
        )
    finally:
        mlm.masked_lm_loss = original
    assert result["mask token"] == {"accuracy": 0.0, "n_targets": 2}
    assert result["random token"] == {"accuracy": 0.0, "n_targets": 1}
    assert result["unchanged"] == {"accuracy": 1.0, "n_targets": 2}


@pytest.mark.parametrize("fp16", [True, False])
def test_train_mlm_scales_the_loss_exactly_when_training_in_float16(
    fp16: bool, tokenizers: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A device that autocasts to float16 (here mocked on the CPU) gets a working GradScaler."""
    import course_utils.mlm as mlm

    made: list[dict] = []
    real = torch.amp.GradScaler

    class SpyScaler(real):
        def __init__(self, device: str = "cuda", **kwargs) -> None:
            made.append({"device": device, **kwargs})
            super().__init__(device, **kwargs)

    monkeypatch.setattr(torch.amp, "GradScaler", SpyScaler)
    monkeypatch.setattr(mlm, "needs_grad_scaler", lambda device: fp16)
    if fp16:  # the float16 forward pass that a GPU (or old MPS code) would run
        monkeypatch.setattr(mlm, "autocast", lambda d: torch.autocast("cpu", dtype=torch.float16))
    tokenizer = tokenizers["bert"]
    model = _model("bert", tokenizer)
    before = [p.detach().clone() for p in model.parameters()]
    config = TrainConfig(steps=3, batch_size=8, lr=1e-3)
    history = train_mlm(model, [_batch(tokenizer)], config, device="cpu", progress=False)
    assert made == [{"device": "cpu", "enabled": fp16}]
    assert all(math.isfinite(x) for x in history.train_loss)
    moved = [not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True)]
    assert sum(moved) > len(moved) // 2  # the scaler unscaled and stepped: weights changed
