"""Train the two subword tokenizers of the course: BERT's WordPiece and RoBERTa's byte-level BPE.

Both are trained with the `tokenizers` library and wrapped in a `transformers`
`PreTrainedTokenizerFast`, so that `save_pretrained(out_dir)` followed by
`AutoTokenizer.from_pretrained(out_dir)` gives back the same tokenizer with the same special
tokens, and calling it on a text adds them (`[CLS] ... [SEP]` or `<s> ... </s>`).

- WordPiece (Schuster & Nakajima 2012; as used by Devlin et al. 2019, arXiv:1810.04805): the
  character alphabet is learned from the corpus, and a word is split greedily, longest entry
  first; a word with any part that no entry matches (e.g. a character never seen in training)
  becomes a single `[UNK]`, whole.
- Byte-level BPE (Liu et al. 2019, arXiv:1907.11692, Section 4.4, after GPT-2): the alphabet is
  the 256 bytes, so every string can be encoded and decoded back exactly, with no unknown token.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import (
    AddedToken,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)
from transformers import PreTrainedTokenizerFast

#: BERT's special tokens, in the order of their ids (0..4) in our vocabularies.
WORDPIECE_SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
#: RoBERTa's special tokens with the ids of roberta-base: <s>=0 <pad>=1 </s>=2 <unk>=3 <mask>=4.
BPE_SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def _check_vocab_size(vocab_size: int, minimum: int) -> None:
    if vocab_size < minimum:
        raise ValueError(
            f"vocab_size must be at least {minimum} for this tokenizer, got {vocab_size}"
        )


def _nonempty(texts: Iterable[str]) -> Iterator[str]:
    # Blank lines carry no statistics; skipping them keeps the trainer from counting empty words
    for text in texts:
        if text.strip():
            yield text


def _save(tokenizer: PreTrainedTokenizerFast, out_dir: Path | None) -> PreTrainedTokenizerFast:
    if out_dir is not None:
        tokenizer.save_pretrained(str(out_dir))
    return tokenizer


def _sorted_wordpiece(vocab: dict[str, int]) -> models.WordPiece:
    """The same WordPiece vocabulary with reproducible ids: specials 0-4, then sorted tokens.

    The trainer orders its alphabet and its equal-score merges in hash order, so two runs on the
    same text give the same tokens under different ids (and a model trained on one run's ids reads
    garbage through the other's). Greedy longest-match only looks tokens up, so renumbering them
    changes no tokenisation.
    """
    rest = sorted(set(vocab) - set(WORDPIECE_SPECIAL_TOKENS))
    ordered = WORDPIECE_SPECIAL_TOKENS + rest
    return models.WordPiece(
        vocab={token: i for i, token in enumerate(ordered)},
        unk_token="[UNK]",
        continuing_subword_prefix="##",
        max_input_chars_per_word=100,
    )


def train_wordpiece(
    texts: Iterable[str],
    vocab_size: int,
    out_dir: Path | None = None,
    lowercase: bool = True,
) -> PreTrainedTokenizerFast:
    """Train a BERT-style WordPiece tokenizer (Devlin et al. 2019, arXiv:1810.04805, Section 3).

    Normalisation and pre-tokenisation are BERT's (clean text, split CJK characters, optional
    lowercasing with accent stripping, split on whitespace and punctuation). Special tokens get
    ids 0-4: [PAD] [UNK] [CLS] [SEP] [MASK]. Calling the result on a text adds `[CLS] ... [SEP]`
    (`[CLS] A [SEP] B [SEP]` for a pair, with token_type_ids 0/1). If `out_dir` is given the
    tokenizer is saved there with `save_pretrained` (reload with `AutoTokenizer.from_pretrained`).

    WordPiece's alphabet is learned, not fixed: a word containing a character not seen in
    training (or longer than 100 characters) becomes one [UNK] as a whole, not only that part.
    """
    _check_vocab_size(vocab_size, len(WORDPIECE_SPECIAL_TOKENS) + 1)
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    # strip_accents=None follows lowercase, as in BERT's uncased/cased models
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lowercase
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        special_tokens=WORDPIECE_SPECIAL_TOKENS,
        continuing_subword_prefix="##",
        show_progress=False,
    )
    tok.train_from_iterator(_nonempty(texts), trainer=trainer)
    tok.model = _sorted_wordpiece(tok.get_vocab())
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        do_lower_case=lowercase,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )
    return _save(wrapped, out_dir)


def train_byte_level_bpe(
    texts: Iterable[str],
    vocab_size: int,
    out_dir: Path | None = None,
) -> PreTrainedTokenizerFast:
    """Train a RoBERTa-style byte-level BPE tokenizer (Liu et al. 2019, arXiv:1907.11692, 4.4).

    Text is split GPT-2 style and every byte is mapped to a printable symbol; the trainer starts
    from all 256 byte symbols, so any input (emoji, accents, CJK) encodes without an unknown token
    and decodes back exactly. Special tokens have roberta-base's ids: <s>=0 <pad>=1 </s>=2
    <unk>=3 <mask>=4; calling the result on a text adds `<s> ... </s>` (`<s> A </s></s> B </s>`
    for a pair). `<mask>` strips the space before it (lstrip), as in roberta-base, so
    "Paris is the <mask>." masks the word together with its leading space.
    """
    _check_vocab_size(vocab_size, len(BPE_SPECIAL_TOKENS) + 256)
    tok = Tokenizer(models.BPE())  # no unk_token: every byte is in the vocabulary
    # add_prefix_space=False as roberta-base: the first word of a text has no leading "Ġ"
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=BPE_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_nonempty(texts), trainer=trainer)
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", tok.token_to_id("</s>")),
        ("<s>", tok.token_to_id("<s>")),
        add_prefix_space=False,
        trim_offsets=True,
    )
    tok.decoder = decoders.ByteLevel()
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        # RoBERTa has one segment (type_vocab_size 1): no token_type_ids
        model_input_names=["input_ids", "attention_mask"],
    )
    # lstrip as roberta-base: the mask token absorbs the space before it
    wrapped.add_special_tokens(
        {"mask_token": AddedToken("<mask>", lstrip=True, rstrip=False, special=True)}
    )
    return _save(wrapped, out_dir)
