"""course_utils.electra: shared embeddings, sampling, labels, loss, saving, the loop."""

from __future__ import annotations

import random

import pytest
import torch
from safetensors.torch import save_file
from sklearn.metrics import precision_score, recall_score, roc_auc_score
from transformers import ElectraForPreTraining

from course_utils import electra
from course_utils.masking import IGNORE_INDEX
from course_utils.mlm import TrainConfig, masked_lm_loss, train_mlm
from course_utils.tokenization import train_wordpiece

WORDS = "the a cat dog sat ran on under mat tree big small red blue quickly slowly".split()


def _texts(n: int = 300, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 20))) for _ in range(n)]


@pytest.fixture(scope="module")
def tokenizer():
    return train_wordpiece(_texts(), 200)


def _pair(tokenizer, seed: int = 0, **kw) -> electra.ElectraPretrainingModel:
    return electra.ElectraPretrainingModel.for_tokenizer(tokenizer, "ci", seed=seed, **kw)


def _blocks(tokenizer, n: int = 16, seed: int = 1) -> dict[str, torch.Tensor]:
    enc = tokenizer(
        _texts(n, seed), truncation=True, max_length=32, padding="max_length", return_tensors="pt"
    )
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def _batch(tokenizer, n: int = 8, seed: int = 1) -> dict[str, torch.Tensor]:
    return electra.make_electra_eval_batches(_blocks(tokenizer, n, seed), tokenizer, n, seed)[0]


# ---------------------------------------------------------------- configs and sharing


def test_generator_config_follows_the_official_rule(tokenizer):
    disc = electra.discriminator_config(len(tokenizer), "cpu")
    assert (disc.hidden_size, disc.num_hidden_layers, disc.embedding_size) == (128, 2, 128)
    gen = electra.generator_config(disc)  # 1/4 of 128 = 32: 1 head, FFN 128
    assert (gen.hidden_size, gen.num_attention_heads, gen.intermediate_size) == (32, 1, 128)
    assert (
        gen.num_hidden_layers == 2
        and gen.embedding_size == 128
        and gen.vocab_size == len(tokenizer)
    )
    big = electra.generator_config(electra.discriminator_config(300, "cpu", hidden_size=768))
    assert (big.hidden_size, big.num_attention_heads) == (192, 3)  # 768/4, 192 // 64
    odd = electra.generator_config(electra.discriminator_config(300, "cpu", hidden_size=800))
    assert odd.hidden_size % odd.num_attention_heads == 0  # 200: 3 heads would not divide it
    with pytest.raises(ValueError, match="hidden_fraction"):
        electra.generator_config(disc, hidden_fraction=0)
    with pytest.raises(ValueError, match="vocab_size"):
        electra.discriminator_config(3)


def test_embeddings_are_the_same_tensors(tokenizer):
    pair = _pair(tokenizer)
    g, d = pair.generator.electra.embeddings, pair.discriminator.electra.embeddings
    for name in ("word_embeddings", "position_embeddings", "token_type_embeddings", "LayerNorm"):
        gp, dp = getattr(g, name).weight, getattr(d, name).weight
        assert gp is dp and gp.data_ptr() == dp.data_ptr()
    # the generator's output projection is tied to the shared token table
    assert pair.generator.generator_lm_head.weight.data_ptr() == d.word_embeddings.weight.data_ptr()
    # and a change through one model is seen by the other
    with torch.no_grad():
        d.word_embeddings.weight[5].fill_(0.5)
    assert torch.all(g.word_embeddings.weight[5] == 0.5)
    # the encoders are separate and of different widths
    assert pair.generator.config.hidden_size == pair.discriminator.config.hidden_size // 4
    n_disc = sum(p.numel() for p in pair.discriminator.parameters())
    n_gen = sum(p.numel() for p in pair.generator.parameters())
    n_emb = sum(p.numel() for p in d.parameters())
    assert sum(p.numel() for p in pair.parameters()) == n_disc + n_gen - n_emb  # counted once


def test_mismatched_models_are_refused(tokenizer):
    disc = electra.discriminator_config(len(tokenizer), "ci")
    other = electra.discriminator_config(len(tokenizer) + 1, "ci")
    with pytest.raises(ValueError, match="vocab_size"):
        electra.ElectraPretrainingModel.from_configs(disc, electra.generator_config(other))
    with pytest.raises(TypeError, match="ElectraForMaskedLM"):
        electra.ElectraPretrainingModel(ElectraForPreTraining(disc), ElectraForPreTraining(disc))


# ---------------------------------------------------------------- masking, sampling, labels


def test_eval_batches_use_the_official_corruption(tokenizer):
    blocks = _blocks(tokenizer, n=200, seed=3)
    batches = electra.make_electra_eval_batches(blocks, tokenizer, 64, seed=7)
    again = electra.make_electra_eval_batches(blocks, tokenizer, 64, seed=7)
    assert all(
        torch.equal(a["input_ids"], b["input_ids"]) for a, b in zip(batches, again, strict=True)
    )
    ids = torch.cat([b["input_ids"] for b in batches])
    labels = torch.cat([b["labels"] for b in batches])
    selected = labels != IGNORE_INDEX
    eligible = (blocks["attention_mask"] == 1) & ~torch.isin(
        blocks["input_ids"], torch.tensor(tokenizer.all_special_ids)
    )
    assert not (selected & ~eligible).any()  # never padding or special tokens
    rate = selected.sum() / eligible.sum()
    assert 0.13 < rate < 0.17
    masked = (ids == tokenizer.mask_token_id) & selected
    kept = (ids == labels) & selected
    assert (masked | kept)[selected].all()  # no random tokens
    assert 0.81 < masked.sum() / selected.sum() < 0.89
    assert torch.equal(ids[~selected], blocks["input_ids"][~selected])


def test_sample_has_no_gradient_and_follows_the_softmax():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]], requires_grad=True)
    draws = electra.sample_replacements(
        logits.expand(40_000, 4), generator=torch.Generator().manual_seed(0)
    )
    assert not draws.requires_grad and draws.dtype == torch.long
    freq = torch.bincount(draws, minlength=4).double() / draws.numel()
    expected = torch.softmax(logits.detach().double(), -1)[0]
    assert torch.allclose(freq, expected, atol=0.01)  # 4 sigma of a binomial at n = 40k
    cold = electra.sample_replacements(logits * 100, temperature=1.0)
    assert cold.tolist() == [0]
    with pytest.raises(ValueError, match="temperature"):
        electra.sample_replacements(logits, temperature=0)


def test_corrupt_changes_only_selected_positions_and_labels_correct_samples_original():
    ids = torch.tensor([[2, 10, 4, 12, 4, 3, 0]])  # [CLS] w [MASK] w [MASK] [SEP] [PAD]
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[0, 2], labels[0, 4], labels[0, 1] = 11, 13, 10  # position 1: selected, kept
    sampled = torch.tensor([10, 11, 20])  # row-major: pos 1 -> 10, pos 2 -> 11 (correct), 4 -> 20
    original, corrupted, replaced = electra.corrupt(ids, labels, sampled)
    assert original.tolist() == [[2, 10, 11, 12, 13, 3, 0]]
    assert corrupted.tolist() == [[2, 10, 11, 12, 20, 3, 0]]
    assert replaced.tolist() == [[0, 0, 0, 0, 1, 0, 0]]  # correct samples count as original
    with pytest.raises(ValueError, match="samples"):
        electra.corrupt(ids, labels, sampled[:2])


def test_loss_only_selected_positions_change_and_no_gradient_reaches_the_generator(tokenizer):
    pair = _pair(tokenizer)
    batch = _batch(tokenizer)
    out = electra.electra_loss(pair, batch, generator=torch.Generator().manual_seed(0))
    selected = batch["labels"] != IGNORE_INDEX
    original = torch.where(selected, batch["labels"], batch["input_ids"])
    assert torch.equal(out.corrupted_ids[~selected], original[~selected])
    assert torch.equal(out.is_replaced.bool(), out.corrupted_ids != original)
    assert not out.is_replaced[~selected].any()
    # the detection loss alone: gradients reach the discriminator and the SHARED embeddings,
    # nothing in the generator's own encoder or head
    out.disc_loss.backward()
    shared = {id(p) for p in pair.discriminator.electra.embeddings.parameters()}
    own = [(n, p) for n, p in pair.generator.named_parameters() if id(p) not in shared]
    assert own and all(p.grad is None for _, p in own), [n for n, p in own if p.grad is not None]
    assert pair.discriminator.discriminator_predictions.dense.weight.grad is not None
    assert pair.discriminator.electra.embeddings.word_embeddings.weight.grad is not None


def test_total_loss_is_mlm_plus_50_times_detection(tokenizer):
    pair = _pair(tokenizer)
    pair.eval()
    batch = _batch(tokenizer)
    out = electra.electra_loss(pair, batch, generator=torch.Generator().manual_seed(0))
    assert pair.disc_weight == 50.0 and pair.gen_weight == 1.0
    assert out.loss.item() == pytest.approx(out.mlm_loss.item() + 50 * out.disc_loss.item())
    # the generator's part is the course's targets-only MLM loss of the generator
    assert out.mlm_loss.item() == pytest.approx(masked_lm_loss(pair.generator, batch).loss.item())
    # the detection part equals ElectraForPreTraining's own loss (padding excluded)
    stock = pair.discriminator(
        input_ids=out.corrupted_ids, attention_mask=batch["attention_mask"], labels=out.is_replaced
    ).loss
    assert out.disc_loss.item() == pytest.approx(stock.item(), rel=1e-5)
    # padding is excluded: by hand, over attention_mask == 1 only, differs from all tokens
    active = batch["attention_mask"].bool()
    assert not active.all()
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    by_hand = bce(out.disc_logits[active], out.is_replaced[active].float())
    assert out.disc_loss.item() == pytest.approx(by_hand.item())
    # whatever the logits at padding, the loss does not move
    wild = out.disc_logits.detach().masked_fill(~active, 30.0)
    same = electra.detection_loss(wild, out.is_replaced, batch["attention_mask"])
    assert same.item() == pytest.approx(out.disc_loss.item())
    assert electra.detection_loss(wild, out.is_replaced, None).item() > same.item() + 1.0
    half = electra.ElectraPretrainingModel(pair.generator, pair.discriminator, disc_weight=25.0)
    out2 = electra.electra_loss(half, batch, generator=torch.Generator().manual_seed(0))
    assert out2.loss.item() == pytest.approx(out.mlm_loss.item() + 25 * out.disc_loss.item())


# ---------------------------------------------------------------- saving


def test_save_and_reload_both_models(tokenizer, tmp_path):
    pair = _pair(tokenizer, seed=3)
    # why the pair is saved as two models: one safetensors file refuses the shared tensors
    with pytest.raises(RuntimeError, match="share memory|shared"):
        save_file(pair.state_dict(), str(tmp_path / "pair.safetensors"))
    pair.save_pretrained(tmp_path / "electra")
    assert (tmp_path / "electra" / "model.safetensors").is_file()
    assert (tmp_path / "electra" / "generator" / "model.safetensors").is_file()
    again = electra.ElectraPretrainingModel.from_pretrained(tmp_path / "electra")
    for a, b in ((pair.discriminator, again.discriminator), (pair.generator, again.generator)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    e1, e2 = again.generator.electra.embeddings, again.discriminator.electra.embeddings
    assert e1.word_embeddings.weight is e2.word_embeddings.weight  # shared again
    assert again.generator.generator_lm_head.weight is e2.word_embeddings.weight
    # the discriminator alone loads with the stock class, for fine-tuning
    disc = ElectraForPreTraining.from_pretrained(tmp_path / "electra")
    assert torch.equal(disc.electra.embeddings.word_embeddings.weight, e2.word_embeddings.weight)
    pair.save_pretrained(tmp_path / "disc_only", include_generator=False)
    with pytest.raises(FileNotFoundError, match="include_generator=False"):
        electra.ElectraPretrainingModel.from_pretrained(tmp_path / "disc_only")


# ---------------------------------------------------------------- evaluation and the loop


def test_evaluation_metrics_agree_with_scikit_learn(tokenizer):
    pair = _pair(tokenizer)
    batches = electra.make_electra_eval_batches(_blocks(tokenizer, 24), tokenizer, 8)
    m = electra.evaluate_electra(pair, batches)
    assert m == electra.evaluate_electra(pair, batches)  # fixed masks and samples
    # recompute the detection metrics from the same samples
    sampler = torch.Generator().manual_seed(electra.EVAL_SEED)
    pair.eval()
    probs, truth, replaced, tokens = [], [], 0, 0
    with torch.no_grad():
        for b in batches:
            out = electra.electra_loss(pair, b, generator=sampler)
            probs.append(torch.sigmoid(out.disc_logits[out.active]))
            truth.append(out.is_replaced[out.active])
            replaced += int(out.is_replaced.sum())
            tokens += int(out.active.sum())
    p, y = torch.cat(probs).numpy(), torch.cat(truth).numpy()
    assert m["replaced_fraction"] == pytest.approx(replaced / tokens)
    assert 0 < m["replaced_fraction"] < 0.15  # at most the selected 15%
    assert m["disc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["disc_precision"] == pytest.approx(precision_score(y, p > 0.5, zero_division=0.0))
    assert m["disc_recall"] == pytest.approx(recall_score(y, p > 0.5, zero_division=0.0))
    assert m["loss"] == pytest.approx(m["mlm_loss"] + 50 * m["disc_loss"])
    for key in ("generator_accuracy", "sampled_accuracy", "disc_accuracy"):
        assert 0 <= m[key] <= 1


def test_the_course_loop_trains_it_and_the_loss_falls(tokenizer):
    pair = _pair(tokenizer, seed=0)
    blocks = _blocks(tokenizer, n=64, seed=5)
    rows = [{"input_ids": i, "attention_mask": m} for i, m in zip(*blocks.values(), strict=True)]
    loader = torch.utils.data.DataLoader(
        rows, batch_size=16, shuffle=True, collate_fn=electra.electra_collator(tokenizer, seed=0)
    )
    valid = electra.electra_validator(
        electra.make_electra_eval_batches(_blocks(tokenizer, 32, seed=9), tokenizer, 16)
    )
    before = valid(pair)
    config = TrainConfig(steps=40, batch_size=16, lr=2e-3, warmup_steps=4, eval_every=20)
    history = train_mlm(
        pair,
        loader,
        config,
        valid=valid,
        device="cpu",
        progress=False,
        loss_fn=electra.electra_loss,
    )
    after = history.final_eval
    assert [e["step"] for e in history.evals] == [20, 40]
    assert after["loss"] < before["loss"] - 1.0
    assert after["mlm_loss"] < before["mlm_loss"]
    # not the generator's accuracy: after 40 steps its argmax is noise, and the tiny WordPiece
    # vocabulary of the fixture differs between runs (the trainer breaks ties in hash order)
    first, last = history.train_loss[:5], history.train_loss[-5:]
    assert sum(last) / 5 < sum(first) / 5
    # the shared tensors stayed shared through the optimizer
    g, d = pair.generator.electra.embeddings, pair.discriminator.electra.embeddings
    assert g.word_embeddings.weight is d.word_embeddings.weight


def test_bad_input_is_refused_clearly(tokenizer):
    pair = _pair(tokenizer)
    with pytest.raises(ValueError, match="input_ids and labels"):
        electra.electra_loss(pair, {"input_ids": torch.zeros(1, 4, dtype=torch.long)})
    with pytest.raises(TypeError, match="ElectraPretrainingModel"):
        electra.electra_loss(pair.generator, _batch(tokenizer))
    with pytest.raises(ValueError, match="no evaluation batches"):
        electra.electra_validator([])
