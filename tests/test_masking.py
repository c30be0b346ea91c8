"""BERT's 15% / 80-10-10 rule against DataCollatorForLanguageModeling; static vs dynamic masking."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import DataLoader
from transformers import DataCollatorForLanguageModeling

from course_utils.masking import (
    IGNORE_INDEX,
    DynamicMaskingCollator,
    StaticMaskedDataset,
    mask_tokens,
    special_tokens_mask_for,
)
from course_utils.packing import pack_blocks, tokenize_lines
from course_utils.tokenization import train_wordpiece

MLM, MASK_P, RANDOM_P = 0.15, 0.8, 0.1
MIN_TOKENS = 200_000
SIGMAS = 4.0


@pytest.fixture(scope="session")
def tokenizer(wiki_lines):
    return train_wordpiece(wiki_lines[:3000], 3000)


@pytest.fixture(scope="session")
def examples(tokenizer, wiki_lines) -> list[dict[str, list[int]]]:
    """Lines of different lengths (so batches need padding) with [CLS]/[SEP], >= 200k tokens."""
    lines = [t for t in wiki_lines if t.strip()]
    enc = tokenizer(lines, truncation=True, max_length=160)
    rows = [{"input_ids": ids} for ids in enc["input_ids"]]
    assert sum(len(r["input_ids"]) for r in rows) > 1.2 * MIN_TOKENS
    return rows


@pytest.fixture(scope="session")
def blocks(tokenizer, wiki_lines) -> dict[str, torch.Tensor]:
    ids = tokenize_lines(tokenizer, wiki_lines[:400])
    t = tokenizer
    return pack_blocks(ids, 64, t.cls_token_id, t.sep_token_id, t.pad_token_id)


def batches(rows, size=64):
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def original_batch(tokenizer, rows) -> torch.Tensor:
    return tokenizer.pad(rows, return_tensors="pt")["input_ids"]


# ---- statistics against the library and the nominal rule ---------------------------------------


def count(tokenizer, collate, rows) -> dict[str, int]:
    """Run `collate` over all rows; count eligible, selected, [MASK], unchanged, random."""
    c = dict(eligible=0, selected=0, mask=0, unchanged=0, random=0)
    for chunk in batches(rows):
        original = original_batch(tokenizer, chunk)
        out = collate(chunk)
        special = special_tokens_mask_for(original, tokenizer)
        selected = out["labels"] != IGNORE_INDEX
        # never a special or padding token; labels = original id where selected
        assert not (selected & special).any()
        assert torch.equal(out["labels"][selected], original[selected])
        assert torch.equal(out["input_ids"][~selected], original[~selected])
        c["eligible"] += int((~special).sum())
        c["selected"] += int(selected.sum())
        is_mask = out["input_ids"] == tokenizer.mask_token_id
        same = out["input_ids"] == original
        c["mask"] += int((selected & is_mask).sum())
        c["unchanged"] += int((selected & same).sum())
        c["random"] += int((selected & ~is_mask & ~same).sum())
    return c


def expected_shares(vocab: int) -> dict[str, float]:
    """Nominal 80/10/10, corrected for the uniform random id hitting [MASK] or the original.

    A random replacement draws from all `vocab` ids, so with probability 1/vocab it is [MASK] and
    with 1/vocab the original token (the original is never [MASK]: special tokens are not selected).
    """
    r = RANDOM_P
    return {
        "selected": MLM,
        "mask": MASK_P + r / vocab,
        "unchanged": 1 - MASK_P - r + r / vocab,
        "random": r * (1 - 2 / vocab),
    }


@pytest.fixture(scope="session")
def rate_counts(tokenizer, examples):
    ours = DynamicMaskingCollator(tokenizer, mlm_probability=MLM, seed=1)
    library = DataCollatorForLanguageModeling(
        tokenizer,
        mlm_probability=MLM,
        mask_replace_prob=MASK_P,
        random_replace_prob=RANDOM_P,
        seed=2,
    )
    return count(tokenizer, ours, examples), count(tokenizer, library, examples)


def _rate(c: dict[str, int], what: str) -> tuple[float, int]:
    n = c["eligible"] if what == "selected" else c["selected"]
    return c[what] / n, n


@pytest.mark.parametrize("what", ["selected", "mask", "random", "unchanged"])
def test_rates_agree_with_library_and_nominal(rate_counts, tokenizer, what):
    ours, library = rate_counts
    assert ours["eligible"] == library["eligible"] >= MIN_TOKENS
    p = expected_shares(len(tokenizer))[what]
    p_ours, n_ours = _rate(ours, what)
    p_lib, n_lib = _rate(library, what)
    # each against the nominal rate: binomial standard deviation of a share over n trials
    for share, n in [(p_ours, n_ours), (p_lib, n_lib)]:
        assert abs(share - p) < SIGMAS * math.sqrt(p * (1 - p) / n), (what, share, p, n)
    # ours against the library: standard deviation of a difference of two independent shares
    sd_diff = math.sqrt(p * (1 - p) * (1 / n_ours + 1 / n_lib))
    assert abs(p_ours - p_lib) < SIGMAS * sd_diff, (what, p_ours, p_lib)


def test_identical_to_library_with_the_same_generator(tokenizer, examples):
    """Same draws in the same order: with equal generator states the outputs are identical."""
    original = original_batch(tokenizer, examples[:128])
    library = DataCollatorForLanguageModeling(tokenizer, mlm_probability=MLM)
    library.generator = torch.Generator().manual_seed(7)
    lib_inputs, lib_labels = library.torch_mask_tokens(original.clone())
    inputs, labels = mask_tokens(original, tokenizer, generator=torch.Generator().manual_seed(7))
    assert torch.equal(inputs, lib_inputs) and torch.equal(labels, lib_labels)


def test_random_ids_cover_the_whole_vocabulary(tokenizer, blocks):
    """Random replacements are uniform over range(len(tokenizer)), special ids included."""
    inputs, labels = mask_tokens(
        blocks["input_ids"].repeat(20, 1),
        tokenizer,
        mask_replace_prob=0.0,
        random_replace_prob=1.0,
        generator=torch.Generator().manual_seed(0),
    )
    replaced = inputs[labels != IGNORE_INDEX]
    assert replaced.min() >= 0 and replaced.max() < len(tokenizer)
    assert (replaced < 5).any()  # special tokens can be drawn, as in the library


def test_all_mask_when_mask_replace_prob_is_one(tokenizer, blocks):
    inputs, labels = mask_tokens(
        blocks["input_ids"], tokenizer, mask_replace_prob=1.0, random_replace_prob=0.0
    )
    selected = labels != IGNORE_INDEX
    assert selected.any() and (inputs[selected] == tokenizer.mask_token_id).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mlm_probability": 1.5},
        {"mlm_probability": -0.1},
        {"mask_replace_prob": 0.8, "random_replace_prob": 0.3},
        {"random_replace_prob": -0.1},
    ],
)
def test_bad_probabilities(tokenizer, blocks, kwargs):
    with pytest.raises(ValueError):
        mask_tokens(blocks["input_ids"], tokenizer, **kwargs)
    with pytest.raises(ValueError):
        DynamicMaskingCollator(tokenizer, **kwargs)


def test_bad_input(tokenizer, blocks):
    with pytest.raises(ValueError, match="integer"):
        mask_tokens(blocks["input_ids"].float(), tokenizer)
    with pytest.raises(ValueError, match="shape"):
        mask_tokens(blocks["input_ids"], tokenizer, special_tokens_mask=torch.zeros(3, 3))
    with pytest.raises(ValueError, match="copies"):
        StaticMaskedDataset(blocks, tokenizer, copies=0)


# ---- static vs dynamic -------------------------------------------------------------------------


def test_static_masks_are_fixed_and_copies_differ(tokenizer, blocks):
    n = len(blocks["input_ids"])
    ds = StaticMaskedDataset(blocks, tokenizer, copies=3, seed=0)
    assert len(ds) == 3 * n
    for i in (0, n - 1, n, 2 * n + 5):
        first, again = ds[i], ds[i]
        assert all(torch.equal(first[k], again[k]) for k in ("input_ids", "labels"))
    # the same block in copies 0, 1, 2 carries different masks
    labels = [torch.stack([ds[c * n + i]["labels"] for i in range(n)]) for c in range(3)]
    assert not torch.equal(labels[0], labels[1]) and not torch.equal(labels[1], labels[2])
    # and the same seed rebuilds the same dataset
    rebuilt = StaticMaskedDataset(blocks, tokenizer, copies=3, seed=0)
    assert torch.equal(rebuilt.input_ids, ds.input_ids) and torch.equal(rebuilt.labels, ds.labels)
    # the padding of the last block is never selected
    pad = blocks["attention_mask"].repeat(3, 1) == 0
    assert (ds.labels[pad] == IGNORE_INDEX).all()


def test_dynamic_masks_change_every_batch_and_follow_the_seed(tokenizer, examples):
    batch = examples[:32]
    collate = DynamicMaskingCollator(tokenizer, seed=0)
    first, second = collate(batch), collate(batch)
    assert not torch.equal(first["labels"], second["labels"])
    twin = DynamicMaskingCollator(tokenizer, seed=0)
    assert torch.equal(twin(batch)["input_ids"], first["input_ids"])
    assert torch.equal(twin(batch)["labels"], second["labels"])
    other = DynamicMaskingCollator(tokenizer, seed=1)
    assert not torch.equal(other(batch)["labels"], first["labels"])
    # padding: attention_mask 0 exactly where the collator padded, never selected
    lengths = torch.tensor([len(e["input_ids"]) for e in batch])
    assert torch.equal(first["attention_mask"].sum(1), lengths)
    assert (first["labels"][first["attention_mask"] == 0] == IGNORE_INDEX).all()


def test_inputs_are_never_modified(tokenizer, blocks, examples):
    before = {k: v.clone() for k, v in blocks.items()}
    mask_tokens(blocks["input_ids"], tokenizer)
    ds = StaticMaskedDataset(blocks, tokenizer, copies=2)
    item = ds[0]
    item["input_ids"][:] = 0  # editing a returned example does not touch the dataset
    assert not torch.equal(ds[0]["input_ids"], item["input_ids"])
    rows = [{"input_ids": torch.tensor(e["input_ids"])} for e in examples[:8]]
    rows_before = [r["input_ids"].clone() for r in rows]
    DynamicMaskingCollator(tokenizer)(rows)
    assert all(torch.equal(r["input_ids"], b) for r, b in zip(rows, rows_before, strict=True))
    assert all(torch.equal(blocks[k], before[k]) for k in blocks)


def test_batches_feed_a_masked_lm(tokenizer, blocks):
    """Both paths give what BertForMaskedLM expects: a finite loss on a tiny model."""
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    model = BertForMaskedLM(config).eval()
    static = DataLoader(StaticMaskedDataset(blocks, tokenizer), batch_size=4)
    rows = [
        {"input_ids": ids, "attention_mask": m}
        for ids, m in zip(blocks["input_ids"], blocks["attention_mask"], strict=True)
    ]
    dynamic = DataLoader(rows, batch_size=4, collate_fn=DynamicMaskingCollator(tokenizer))
    for loader in (static, dynamic):
        batch = next(iter(loader))
        assert set(batch) == {"input_ids", "attention_mask", "labels"}
        with torch.no_grad():
            loss = model(**batch).loss
        assert torch.isfinite(loss)
