"""WordPiece and byte-level BPE training, save/reload with AutoTokenizer, unknown characters."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from course_utils.tokenization import (
    BPE_SPECIAL_TOKENS,
    WORDPIECE_SPECIAL_TOKENS,
    train_byte_level_bpe,
    train_wordpiece,
)

VOCAB = 2000
# Strings outside a few thousand WikiText lines: emoji, accents, CJK, Cyrillic, a combining mark
UNICODE_SAMPLES = [
    "Emoji 😀🚀 and café, naïve, Ångström.",
    "東京タワー 北京 서울",
    "Привет, мир! ǂ ß ø ŋ",
    "e\u0301 (combining accent) \t tab and  two spaces",
]


@pytest.fixture(scope="session")
def wordpiece_dir(wiki_lines, tmp_path_factory):
    out = tmp_path_factory.mktemp("wordpiece")
    return train_wordpiece(wiki_lines[:3000], VOCAB, out_dir=out), out


@pytest.fixture(scope="session")
def bpe_dir(wiki_lines, tmp_path_factory):
    out = tmp_path_factory.mktemp("bpe")
    return train_byte_level_bpe(wiki_lines[:3000], VOCAB, out_dir=out), out


# ---- WordPiece ---------------------------------------------------------------------------------


def test_wordpiece_special_tokens_and_size(wordpiece_dir):
    tok, _ = wordpiece_dir
    assert tok.convert_tokens_to_ids(WORDPIECE_SPECIAL_TOKENS) == [0, 1, 2, 3, 4]
    assert (tok.pad_token_id, tok.unk_token_id, tok.cls_token_id) == (0, 1, 2)
    assert (tok.sep_token_id, tok.mask_token_id) == (3, 4)
    assert len(tok) == VOCAB
    assert any(t.startswith("##") for t in tok.get_vocab())  # continuation pieces exist


def test_wordpiece_ids_do_not_depend_on_the_trainers_hash_order(wordpiece_dir):
    # the trainer numbers its alphabet and tied merges in hash order; we renumber: specials, sorted
    tok, _ = wordpiece_dir
    by_id = sorted(tok.get_vocab(), key=tok.get_vocab().get)
    assert by_id[:5] == WORDPIECE_SPECIAL_TOKENS
    assert by_id[5:] == sorted(by_id[5:])


SENTENCE = "The Valkyria series is a tactical role playing game."


def _reload_and_encode(tok, out):
    """Reload a saved tokenizer with AutoTokenizer; it must match the original and encode alike."""
    loaded = AutoTokenizer.from_pretrained(out)
    assert loaded.special_tokens_map == tok.special_tokens_map
    assert loaded.get_vocab() == tok.get_vocab()
    enc = loaded(SENTENCE)
    assert enc["input_ids"] == tok(SENTENCE)["input_ids"]
    return loaded, enc


def test_wordpiece_roundtrip_with_autotokenizer(wordpiece_dir):
    tok, out = wordpiece_dir
    loaded, enc = _reload_and_encode(tok, out)
    assert (
        enc["input_ids"][0] == loaded.cls_token_id and enc["input_ids"][-1] == loaded.sep_token_id
    )
    assert loaded.decode(enc["input_ids"], skip_special_tokens=True) == SENTENCE.lower()


def test_wordpiece_pair_template(wordpiece_dir):
    tok, _ = wordpiece_dir
    enc = tok("the game", "the series")
    tokens = tok.convert_ids_to_tokens(enc["input_ids"])
    assert tokens == ["[CLS]", "the", "game", "[SEP]", "the", "series", "[SEP]"]
    assert enc["token_type_ids"] == [0, 0, 0, 0, 1, 1, 1]


def test_wordpiece_unseen_characters_are_unk(wordpiece_dir, wiki_lines):
    tok, _ = wordpiece_dir
    seen = set("".join(wiki_lines[:3000]))
    unseen = [c for c in "😀🚀ǂŋ서울" if c not in seen]
    assert len(unseen) >= 4
    for char in unseen:
        ids = tok(f"word {char} word", add_special_tokens=False)["input_ids"]
        assert tok.unk_token_id in ids, char


def test_wordpiece_word_with_an_unseen_part_is_one_unk(wordpiece_dir):
    # greedy longest-match: when the rest of a word matches no entry, the whole word is lost
    tok, _ = wordpiece_dir
    assert tok.tokenize("the") == ["the"]
    assert tok.tokenize("the😀the") == ["[UNK]"]
    assert tok.tokenize("the 😀 the") == ["the", "[UNK]", "the"]


def test_wordpiece_cased_keeps_case(wiki_lines):
    tok = train_wordpiece(wiki_lines[:500], 500, lowercase=False)
    assert tok.decode(tok("The")["input_ids"], skip_special_tokens=True) == "The"


def test_vocab_size_too_small():
    with pytest.raises(ValueError, match="vocab_size"):
        train_wordpiece(["a b"], 3)
    with pytest.raises(ValueError, match="vocab_size"):
        train_byte_level_bpe(["a b"], 100)


# ---- byte-level BPE ----------------------------------------------------------------------------


def test_bpe_special_ids_match_roberta_base(bpe_dir):
    tok, _ = bpe_dir
    assert tok.convert_tokens_to_ids(BPE_SPECIAL_TOKENS) == [0, 1, 2, 3, 4]
    assert (tok.bos_token_id, tok.pad_token_id, tok.eos_token_id) == (0, 1, 2)
    assert (tok.cls_token_id, tok.sep_token_id, tok.unk_token_id, tok.mask_token_id) == (0, 2, 3, 4)
    assert len(tok) == VOCAB


def test_bpe_roundtrip_with_autotokenizer(bpe_dir):
    tok, out = bpe_dir
    loaded, enc = _reload_and_encode(tok, out)
    assert enc["input_ids"][0] == 0 and enc["input_ids"][-1] == 2  # <s> ... </s>
    assert "token_type_ids" not in enc  # one segment, as RoBERTa
    assert loaded.decode(enc["input_ids"], skip_special_tokens=True) == SENTENCE
    pair = loaded("a game", "a series")["input_ids"]
    assert loaded.convert_ids_to_tokens(pair).count("</s>") == 3  # <s> A </s></s> B </s>


@pytest.mark.parametrize("text", UNICODE_SAMPLES)
def test_bpe_encodes_any_unicode_exactly(bpe_dir, text):
    tok, out = bpe_dir
    for t in (tok, AutoTokenizer.from_pretrained(out)):
        ids = t(text, add_special_tokens=False)["input_ids"]
        assert t.unk_token_id not in ids
        assert t.decode(ids) == text


def test_bpe_mask_token_absorbs_the_space_before_it(bpe_dir):
    tok, out = bpe_dir
    loaded = AutoTokenizer.from_pretrained(out)
    for t in (tok, loaded):
        tokens = t.convert_ids_to_tokens(t("The game is <mask>.")["input_ids"])
        assert tokens[-3:] == ["<mask>", ".", "</s>"]
        assert tokens[-4] == "Ġis"  # no lone "Ġ" before <mask>: lstrip, as roberta-base


def test_wikitext_unk_placeholder(wordpiece_dir, bpe_dir):
    """WikiText writes rare words as the literal text "<unk>" (about 1.6% of BPE tokens).

    The byte-level BPE matches it as its own special token <unk> (id 3), as roberta-base does;
    for WordPiece it is ordinary text ("<", "unk", ">"). Chapters should say so.
    """
    wp, _ = wordpiece_dir
    bpe, _ = bpe_dir
    assert bpe.unk_token_id in bpe(" a <unk> b", add_special_tokens=False)["input_ids"]
    assert wp.convert_ids_to_tokens(wp("a <unk> b", add_special_tokens=False)["input_ids"]) == [
        "a",
        "<",
        "unk",
        ">",
        "b",
    ]
