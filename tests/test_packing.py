"""FULL-SENTENCES packing: no token lost or duplicated, [CLS]/[SEP] framing, padding, the cache."""

from __future__ import annotations

import itertools

import pytest
import torch

from course_utils import data, packing
from course_utils.packing import load_blocks, pack_blocks, tokenize_lines
from course_utils.tokenization import train_byte_level_bpe, train_wordpiece

CLS, SEP, PAD = 101, 102, 0


def inner_tokens(blocks: dict[str, torch.Tensor]) -> list[int]:
    """Stream tokens of all blocks, in order: drop [CLS], the [SEP] and the padding of each."""
    out: list[int] = []
    for ids, mask in zip(blocks["input_ids"], blocks["attention_mask"], strict=True):
        out += ids[1 : int(mask.sum()) - 1].tolist()
    return out


@pytest.fixture(scope="module")
def offline_env(shared_data_dir):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_DATA_DIR", str(shared_data_dir))
        yield shared_data_dir


@pytest.fixture(scope="module")
def wiki_lines(offline_env) -> list[str]:
    return list(data.load_course_dataset("wikitext-2", split="train")["text"][:2000])


@pytest.fixture(scope="module")
def wordpiece(wiki_lines):
    return train_wordpiece(wiki_lines, 1000)


# ---- pack_blocks -------------------------------------------------------------------------------


@pytest.mark.parametrize("block_size", [3, 4, 7, 10, 64])
@pytest.mark.parametrize("drop_last", [False, True])
def test_no_token_lost_or_duplicated(block_size, drop_last):
    g = torch.Generator().manual_seed(block_size)
    lengths = torch.randint(0, 15, (40,), generator=g).tolist()  # includes empty lines
    ids = [list(range(1000 + 100 * i, 1000 + 100 * i + n)) for i, n in enumerate(lengths)]
    stream = list(itertools.chain.from_iterable(ids))
    blocks = pack_blocks(ids, block_size, CLS, SEP, PAD, drop_last=drop_last)
    inner = block_size - 2
    n_full = len(stream) // inner
    expected = stream if not drop_last else stream[: n_full * inner]
    assert inner_tokens(blocks) == expected
    assert blocks["input_ids"].shape[1] == block_size
    assert blocks["input_ids"].dtype == blocks["attention_mask"].dtype == torch.long
    assert (blocks["input_ids"][:, 0] == CLS).all()
    # exactly one [SEP] per block, right after its last token
    last = blocks["attention_mask"].sum(1) - 1
    assert (blocks["input_ids"].gather(1, last[:, None]).squeeze(1) == SEP).all()
    assert ((blocks["input_ids"] == SEP).sum(1) == 1).all()


def test_full_blocks_and_padded_last_block():
    blocks = pack_blocks([[1, 2, 3], [4, 5], [6, 7, 8, 9]], 5, CLS, SEP, PAD)
    assert blocks["input_ids"].tolist() == [
        [CLS, 1, 2, 3, SEP],  # a block runs across line boundaries
        [CLS, 4, 5, 6, SEP],
        [CLS, 7, 8, 9, SEP],
    ]
    blocks = pack_blocks([[1, 2, 3, 4]], 5, CLS, SEP, PAD)
    assert blocks["input_ids"].tolist() == [[CLS, 1, 2, 3, SEP], [CLS, 4, SEP, PAD, PAD]]
    assert blocks["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    dropped = pack_blocks([[1, 2, 3, 4]], 5, CLS, SEP, PAD, drop_last=True)
    assert dropped["input_ids"].tolist() == [[CLS, 1, 2, 3, SEP]]


def test_empty_stream_and_generator_input():
    empty = pack_blocks([[], []], 8, CLS, SEP, PAD)
    assert empty["input_ids"].shape == (0, 8) and empty["attention_mask"].shape == (0, 8)
    lazy = pack_blocks(([i] for i in range(6)), 5, CLS, SEP, PAD)  # any iterable of lists
    assert inner_tokens(lazy) == list(range(6))


def test_block_size_too_small():
    with pytest.raises(ValueError, match="block_size must be at least 3"):
        pack_blocks([[1, 2]], 2, CLS, SEP, PAD)


# ---- tokenize_lines ----------------------------------------------------------------------------


def test_tokenize_lines_skips_blank_keeps_headings(wordpiece):
    texts = ["", " = Valkyria Chronicles III = \n", "   \n", " The game was released . \n"]
    ids = tokenize_lines(wordpiece, texts)
    assert len(ids) == 2
    assert wordpiece.decode(ids[0]) == "= valkyria chronicles iii ="
    assert wordpiece.cls_token_id not in ids[0] + ids[1]
    assert wordpiece.sep_token_id not in ids[0] + ids[1]
    assert tokenize_lines(wordpiece, ["", "\n"]) == []


# ---- load_blocks and its cache -----------------------------------------------------------------


def test_load_blocks_packs_the_split_and_caches(wordpiece, wiki_lines, tmp_path, capsys):
    blocks = load_blocks(wordpiece, "train", 64, cache_dir=tmp_path, max_lines=300)
    assert inner_tokens(blocks) == list(
        itertools.chain.from_iterable(tokenize_lines(wordpiece, wiki_lines[:300]))
    )
    assert (blocks["input_ids"][:, 0] == wordpiece.cls_token_id).all()
    files = list(tmp_path.glob("*.pt"))
    assert len(files) == 1
    first_out = capsys.readouterr().out
    assert "cached on disk" in first_out
    assert str(tmp_path) not in first_out  # no machine path reaches a notebook's output


def test_second_call_skips_tokenization(wordpiece, tmp_path, capsys, monkeypatch):
    first = load_blocks(wordpiece, "validation", 32, cache_dir=tmp_path, max_lines=200)
    capsys.readouterr()

    def forbidden(*args, **kwargs):
        raise AssertionError("the cached call must not load or tokenize the data")

    monkeypatch.setattr(packing, "tokenize_lines", forbidden)
    monkeypatch.setattr(data, "load_course_dataset", forbidden)
    monkeypatch.setattr(type(wordpiece), "__call__", forbidden)
    second = load_blocks(wordpiece, "validation", 32, cache_dir=tmp_path, max_lines=200)
    out = capsys.readouterr().out
    path = next(tmp_path.glob("*.pt"))
    assert out.strip() == f"loaded {len(first['input_ids'])} blocks of 32 from the disk cache"
    assert path.name not in out and str(tmp_path) not in out
    for key in ("input_ids", "attention_mask"):
        assert torch.equal(first[key], second[key])


def test_cache_key_depends_on_every_input(wordpiece, wiki_lines, shared_data_dir, monkeypatch):
    base = packing.cache_key(wordpiece, "train", 64, 100)
    assert base == packing.cache_key(wordpiece, "train", 64, 100)  # stable
    other_tok = train_wordpiece(wiki_lines[:500], 600)
    variants = [
        packing.cache_key(wordpiece, "validation", 64, 100),
        packing.cache_key(wordpiece, "train", 128, 100),
        packing.cache_key(wordpiece, "train", 64, None),
        packing.cache_key(other_tok, "train", 64, 100),
    ]
    monkeypatch.delenv("COURSE_DATA_DIR")  # the Hub copy is another source
    variants.append(packing.cache_key(wordpiece, "train", 64, 100))
    assert len({base, *variants}) == len(variants) + 1


def test_default_cache_dir_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    assert packing.default_cache_dir() == tmp_path
    monkeypatch.delenv("COURSE_CACHE_DIR")
    assert packing.default_cache_dir().name == "course_utils"


def test_load_blocks_with_byte_level_bpe(wiki_lines, tmp_path):
    bpe = train_byte_level_bpe(wiki_lines, 600)
    blocks = load_blocks(bpe, "test", 48, cache_dir=tmp_path, max_lines=100)
    assert (blocks["input_ids"][:, 0] == 0).all()  # <s>
    assert ((blocks["input_ids"] == 2).sum(1) == 1).all()  # one </s> each
    assert (blocks["input_ids"][blocks["attention_mask"] == 0] == 1).all()  # <pad>


def test_load_blocks_bad_arguments(wordpiece, tmp_path):
    with pytest.raises(ValueError, match="block_size"):
        load_blocks(wordpiece, "train", 2, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="max_lines"):
        load_blocks(wordpiece, "train", 16, cache_dir=tmp_path, max_lines=0)
