"""Chapters 2 (BERT) and 3 (RoBERTa): the hidden tests catch plausible wrong answers (mutants).

Like the mutants of chapter 1 in test_grading.py, every case runs otter's test files in this
process against the solution notebook's namespace with one function replaced. The generic checks
(solutions pass, stubs fail only with NotImplementedError, no hidden test leaks, notebooks run in
a kernel) are in test_exercises.py, parametrized over every chapter.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from exercise_fixtures.submissions import load_tests, notebook_namespace, run_question
from test_grading import failure_messages, grade_env

from course_utils import exercises, grading
from course_utils.grading import GradingFailure, check_rate

CHAPTERS = ("02_bert", "03_roberta")

QUESTION_OF = {
    "02_bert": {"mask_tokens": "q1", "wordpiece_tokenize": "q2", "mlm_loss": "q3"},
    "03_roberta": {
        "static_masks": "q1",
        "epoch_masks": "q1",
        "dynamic_mask": "q2",
        "pack_full_sentences": "q3",
    },
}


@pytest.fixture(scope="module")
def tests_of() -> dict[str, dict[str, Path]]:
    return {chapter: load_tests(chapter) for chapter in CHAPTERS}


@pytest.fixture(scope="module")
def solution_env_of() -> dict[str, dict[str, Any]]:
    return {
        chapter: notebook_namespace(
            exercises.REPO_ROOT / exercises.SOLUTION_DIR / f"{chapter}.ipynb"
        )
        for chapter in CHAPTERS
    }


def test_new_chapters_are_covered_by_the_generic_exercise_tests():
    """test_exercises.py parametrizes over chapter_names(): the new chapters are in it."""
    assert set(CHAPTERS) <= set(exercises.chapter_names())
    for chapter in CHAPTERS:
        assert set(QUESTION_OF[chapter].values()) == set(load_tests(chapter))


# --------------------------------------------------------------------------------------------
# grading.check_rate


def test_check_rate_accepts_chance_and_rejects_a_wrong_rate():
    check_rate(1550, 10_000, 0.15, name="rate")  # 1.4 standard deviations off
    check_rate(0, 50, 0.0, name="rate")
    with pytest.raises(GradingFailure, match=r"rate is 0\.8000 \(8000 of 10000\).*close to 0\.15"):
        check_rate(8000, 10_000, 0.15, name="rate")
    with pytest.raises(GradingFailure, match="nothing to count"):
        check_rate(0, 0, 0.15, name="rate")


# --------------------------------------------------------------------------------------------
# Chapter 2 mutants: the 80-10-10 masker


def _masker(
    select_p: Callable[[float], float] = lambda p: p,
    mask_share: float = 0.8,
    random_share: float = 0.1,
    *,
    skip_specials: bool = True,
    labels: str = "original",
    in_place: bool = False,
    conditional_bug: bool = False,
):
    def mask_tokens(
        input_ids, vocab_size, mask_id, special_ids, mlm_probability=0.15, generator=None
    ):
        shape = input_ids.shape
        special = torch.isin(input_ids, torch.tensor(sorted(special_ids)))
        selected = torch.rand(shape, generator=generator) < select_p(mlm_probability)
        if skip_specials:
            selected &= ~special
        action = torch.rand(shape, generator=generator)
        to_mask = selected & (action < mask_share)
        if conditional_bug:  # P(random | not [MASK]) = 0.1 instead of 0.5
            to_random = selected & ~to_mask & (torch.rand(shape, generator=generator) < 0.1)
        else:
            to_random = selected & (action >= mask_share) & (action < mask_share + random_share)
        random_ids = torch.randint(vocab_size, shape, generator=generator)
        inputs = input_ids if in_place else input_ids.clone()
        original = input_ids.clone()
        inputs[to_mask] = mask_id
        inputs[to_random] = random_ids[to_random]
        if labels == "everywhere":
            label_tensor = original
        elif labels == "replacement":
            label_tensor = torch.where(selected, inputs, -100)
        else:
            label_tensor = torch.where(selected, original, -100)
        return inputs, label_tensor

    return mask_tokens


# --------------------------------------------------------------------------------------------
# Chapter 2 mutants: WordPiece


def _wordpiece(
    *,
    shortest: bool = False,
    continuation: str = "##",
    first_prefix: str = "",
    partial_unk: bool = False,
    end_offset: int = 0,
    min_piece: int = 1,
    strict_max: bool = False,
):
    def wordpiece_tokenize(word, vocab, unk_token="[UNK]", max_chars=100):
        if len(word) >= max_chars if strict_max else len(word) > max_chars:
            return [unk_token]
        pieces, start = [], 0
        while start < len(word):
            ends = range(start + min_piece, len(word) + 1 - end_offset)
            prefix = first_prefix if start == 0 else continuation
            found = None
            for end in ends if shortest else reversed(ends):
                if prefix + word[start:end] in vocab:
                    found = end
                    break
            if found is None:
                return [*pieces, unk_token] if partial_unk else [unk_token]
            pieces.append(prefix + word[start:found])
            start = found
        return pieces

    return wordpiece_tokenize


# --------------------------------------------------------------------------------------------
# Chapter 2 mutants: the MLM loss


def _loss_over_all_positions(logits, labels):
    per_token = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="none"
    )
    return per_token.mean()  # ignored positions count as 0 but still divide


def _loss_summed(logits, labels):
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="sum"
    )


def _loss_without_flattening(logits, labels):
    return F.cross_entropy(logits, labels)  # (B, T, V): T taken as the class axis


def _loss_exp_over_sum(logits, labels):
    selected = labels != -100
    probs = logits.exp() / logits.exp().sum(-1, keepdim=True)
    picked = probs[selected].gather(-1, labels[selected][:, None])
    return -picked.log().mean()


def _loss_softmax_twice(logits, labels):
    probs = logits.softmax(-1)
    return F.cross_entropy(probs.reshape(-1, probs.shape[-1]), labels.reshape(-1))


# --------------------------------------------------------------------------------------------
# Chapter 3 mutants


def _static(rate: Callable[[torch.Tensor, float], torch.Tensor] = lambda u, p: u < p, mode="ok"):
    def static_masks(num_sequences, seq_len, copies, mlm_probability, seed):
        if mode == "global rng":
            return torch.rand(copies, num_sequences, seq_len) < mlm_probability
        generator = torch.Generator().manual_seed(seed)
        if mode == "one draw repeated":
            one = torch.rand(num_sequences, seq_len, generator=generator) < mlm_probability
            return one.expand(copies, -1, -1).clone()
        if mode == "reseeded per copy":
            return torch.stack(
                [
                    torch.rand(num_sequences, seq_len, generator=generator.manual_seed(seed))
                    < mlm_probability
                    for _ in range(copies)
                ]
            )
        return rate(
            torch.rand(copies, num_sequences, seq_len, generator=generator), mlm_probability
        )

    return static_masks


def _epoch_fresh_draw(static, epoch):
    return torch.rand(static.shape[1:]) < static.float().mean()


def _epoch_four_in_a_row(static, epoch):
    return static[(epoch // 4) % static.shape[0]]


def _dynamic(mode: str):
    def dynamic_mask(num_sequences, seq_len, mlm_probability, generator):
        if mode == "reseeds its generator":
            generator = torch.Generator().manual_seed(0)
        if mode == "global seed":
            torch.manual_seed(0)
            return torch.rand(num_sequences, seq_len) < mlm_probability
        u = torch.rand(num_sequences, seq_len, generator=generator)
        return u > mlm_probability if mode == "wrong rate" else u < mlm_probability

    return dynamic_mask


def _packer(
    *,
    step: Callable[[int], int] = lambda size: size,
    take: Callable[[int], int] = lambda size: size,
    size_of: Callable[[int], int] = lambda block_size: block_size - 2,
    per_sentence: bool = False,
    cls: bool = True,
    sep: bool = True,
    padding: str = "after",
    pad_value: int | None = None,
    extra_block: bool = False,
    drop_last: bool = False,
    mutate: bool = False,
):
    def pack_full_sentences(sentences, block_size, cls_id, sep_id, pad_id):
        pad = pad_id if pad_value is None else pad_value
        size = size_of(block_size)
        if mutate:
            for sentence in sentences[1:]:
                sentences[0].extend(sentence)
            streams = [sentences[0]] if sentences else []
        else:
            streams = (
                [list(s) for s in sentences]
                if per_sentence
                else [[t for s in sentences for t in s]]
            )
        blocks = []
        for stream in streams:
            stop = len(stream) + 1 if extra_block else len(stream)
            for start in range(0, stop, step(size)):
                chunk = stream[start : start + take(size)]
                if drop_last and len(chunk) < size:
                    continue
                fill = [pad] * (size - len(chunk)) if padding != "none" else []
                body = [*chunk, *fill, sep_id] if padding == "before" and sep else None
                if body is None:
                    body = [*chunk, *([sep_id] if sep else []), *fill]
                blocks.append(([cls_id] if cls else []) + body)
        return blocks

    return pack_full_sentences


MUTANTS: dict[str, tuple[str, str, Callable[..., Any]]] = {
    # Chapter 2, q1
    "masks special tokens and padding": ("02_bert", "mask_tokens", _masker(skip_specials=False)),
    "masks 80% of all tokens": ("02_bert", "mask_tokens", _masker(lambda p: 0.8, 1.0, 0.0)),
    "15% all [MASK], no random or unchanged": ("02_bert", "mask_tokens", _masker(mask_share=1.0)),
    "ignores mlm_probability (always 0.15)": ("02_bert", "mask_tokens", _masker(lambda p: 0.15)),
    "random share not rescaled (2% random, 18% kept)": (
        "02_bert",
        "mask_tokens",
        _masker(conditional_bug=True),
    ),
    "labels on unselected positions too": (
        "02_bert",
        "mask_tokens",
        _masker(labels="everywhere"),
    ),
    "labels hold the replacement, not the original": (
        "02_bert",
        "mask_tokens",
        _masker(labels="replacement"),
    ),
    "changes input_ids in place": ("02_bert", "mask_tokens", _masker(in_place=True)),
    # Chapter 2, q2
    "shortest match first": ("02_bert", "wordpiece_tokenize", _wordpiece(shortest=True)),
    "no ## on continuation pieces": ("02_bert", "wordpiece_tokenize", _wordpiece(continuation="")),
    "## on the first piece": ("02_bert", "wordpiece_tokenize", _wordpiece(first_prefix="##")),
    "partial pieces plus [UNK]": ("02_bert", "wordpiece_tokenize", _wordpiece(partial_unk=True)),
    "match loop never tries the whole rest": (
        "02_bert",
        "wordpiece_tokenize",
        _wordpiece(end_offset=1),
    ),
    "match loop never tries one character": (
        "02_bert",
        "wordpiece_tokenize",
        _wordpiece(min_piece=2),
    ),
    "max_chars off by one (>=)": ("02_bert", "wordpiece_tokenize", _wordpiece(strict_max=True)),
    # Chapter 2, q3
    "loss averaged over all positions": ("02_bert", "mlm_loss", _loss_over_all_positions),
    "loss summed": ("02_bert", "mlm_loss", _loss_summed),
    "(B, T, V) passed to cross_entropy": ("02_bert", "mlm_loss", _loss_without_flattening),
    "softmax as exp/sum (overflows)": ("02_bert", "mlm_loss", _loss_exp_over_sum),
    "softmax applied twice": ("02_bert", "mlm_loss", _loss_softmax_twice),
    # Chapter 3, q1
    "static copies identical (one draw repeated)": (
        "03_roberta",
        "static_masks",
        _static(mode="one draw repeated"),
    ),
    "static copies identical (reseeded per copy)": (
        "03_roberta",
        "static_masks",
        _static(mode="reseeded per copy"),
    ),
    "static masks ignore the seed": ("03_roberta", "static_masks", _static(mode="global rng")),
    "static rate 1 - p": ("03_roberta", "static_masks", _static(lambda u, p: u > p)),
    "static rate p / 2": ("03_roberta", "static_masks", _static(lambda u, p: u < p / 2)),
    "epoch mask drawn afresh": ("03_roberta", "epoch_masks", _epoch_fresh_draw),
    "epoch uses copy epoch // 4": ("03_roberta", "epoch_masks", _epoch_four_in_a_row),
    # Chapter 3, q2
    "dynamic mask reseeds its generator": (
        "03_roberta",
        "dynamic_mask",
        _dynamic("reseeds its generator"),
    ),
    "dynamic mask sets the global seed": ("03_roberta", "dynamic_mask", _dynamic("global seed")),
    "dynamic rate 1 - p": ("03_roberta", "dynamic_mask", _dynamic("wrong rate")),
    # Chapter 3, q3
    "token lost at each block boundary (step C + 1)": (
        "03_roberta",
        "pack_full_sentences",
        _packer(step=lambda c: c + 1),
    ),
    "token lost at each block boundary (C - 1 taken)": (
        "03_roberta",
        "pack_full_sentences",
        _packer(take=lambda c: c - 1),
    ),
    "token repeated at each block boundary (step C - 1)": (
        "03_roberta",
        "pack_full_sentences",
        _packer(step=lambda c: c - 1),
    ),
    "blocks restart at each sentence (SEGMENT style)": (
        "03_roberta",
        "pack_full_sentences",
        _packer(per_sentence=True),
    ),
    "no [CLS]": ("03_roberta", "pack_full_sentences", _packer(cls=False)),
    "no [SEP]": ("03_roberta", "pack_full_sentences", _packer(sep=False)),
    "padding before [SEP]": ("03_roberta", "pack_full_sentences", _packer(padding="before")),
    "no padding": ("03_roberta", "pack_full_sentences", _packer(padding="none")),
    "pads with 0 instead of pad_id": ("03_roberta", "pack_full_sentences", _packer(pad_value=0)),
    "blocks one token too long (C = block_size - 1)": (
        "03_roberta",
        "pack_full_sentences",
        _packer(size_of=lambda b: b - 1),
    ),
    "blocks one token too short (C = block_size - 3)": (
        "03_roberta",
        "pack_full_sentences",
        _packer(size_of=lambda b: b - 3),
    ),
    "empty extra block when n is a multiple of C": (
        "03_roberta",
        "pack_full_sentences",
        _packer(extra_block=True),
    ),
    "last partial block dropped": ("03_roberta", "pack_full_sentences", _packer(drop_last=True)),
    "changes sentences in place": ("03_roberta", "pack_full_sentences", _packer(mutate=True)),
}


def test_reference_versions_of_the_mutant_builders_pass(tests_of, solution_env_of):
    """The mutants differ from correct code only in their bug: the unmutated builders pass."""
    envs = {
        "02_bert": {"mask_tokens": _masker(), "wordpiece_tokenize": _wordpiece()},
        "03_roberta": {
            "static_masks": _static(),
            "dynamic_mask": _dynamic("ok"),
            "pack_full_sentences": _packer(),
        },
    }
    for chapter in CHAPTERS:
        results = grade_env(tests_of[chapter], {**solution_env_of[chapter], **envs[chapter]})
        assert all(test.passed_all for test in results.values()), {
            q: failure_messages(t) for q, t in results.items()
        }


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_hidden_tests_catch_plausible_wrong_answer(mutant, tests_of, solution_env_of):
    chapter, name, function = MUTANTS[mutant]
    question = QUESTION_OF[chapter][name]
    env = {**solution_env_of[chapter], name: function}
    test = run_question(tests_of[chapter][question], env)
    hidden_failed = [r for r in test.test_case_results if r.test_case.hidden and not r.passed]
    assert hidden_failed, f"{mutant} passed every hidden test of {chapter} {question}"
    assert test.score < test.possible


@pytest.mark.parametrize("seed", range(3))
def test_statistical_tests_accept_other_random_streams(
    seed, tests_of, solution_env_of, monkeypatch
):
    """Correct answers that draw their random numbers in another way still pass."""

    def exact_count_masker(input_ids, vocab_size, mask_id, special_ids, mlm_probability=0.15,
                           generator=None):  # fmt: skip
        # BERT's original script: exactly round(15%) of each sequence's candidates, then per-token
        # 80-10-10 from Python's random module.
        rng = random.Random(seed)
        inputs, labels = input_ids.clone(), torch.full_like(input_ids, -100)
        for row in range(input_ids.shape[0]):
            ids = input_ids[row].tolist()
            candidates = [i for i, t in enumerate(ids) if t not in special_ids]
            count = round(len(candidates) * mlm_probability)
            for i in rng.sample(candidates, count):
                labels[row, i] = ids[i]
                roll = rng.random()
                if roll < 0.8:
                    inputs[row, i] = mask_id
                elif roll < 0.9:
                    inputs[row, i] = rng.randrange(vocab_size)
        return inputs, labels

    def unseeded_dynamic(num_sequences, seq_len, mlm_probability, generator):
        return torch.bernoulli(
            torch.full((num_sequences, seq_len), mlm_probability), generator=generator
        ).bool()

    torch.manual_seed(seed)
    bert_q1 = run_question(
        tests_of["02_bert"]["q1"], {**solution_env_of["02_bert"], "mask_tokens": exact_count_masker}
    )
    assert bert_q1.passed_all, failure_messages(bert_q1)
    roberta_q2 = run_question(
        tests_of["03_roberta"]["q2"],
        {**solution_env_of["03_roberta"], "dynamic_mask": unseeded_dynamic},
    )
    assert roberta_q2.passed_all, failure_messages(roberta_q2)


def test_solution_mask_rates_are_well_inside_the_thresholds(solution_env_of):
    """The 5-sigma thresholds leave room: the solution's deviations are a few sigma at most."""
    mask_tokens = solution_env_of["02_bert"]["mask_tokens"]
    ids = torch.randint(3, 1000, (256, 512), generator=torch.Generator().manual_seed(0))
    for seed in range(5):
        _, labels = mask_tokens(ids, 1000, 3, {0, 1, 2}, 0.15, torch.Generator().manual_seed(seed))
        rate = float((labels != -100).float().mean())
        assert abs(rate - 0.15) < 3 * math.sqrt(0.15 * 0.85 / ids.numel())


def test_wordpiece_solution_matches_the_tokenizers_library(solution_env_of):
    """The reference answer agrees with BERT's WordPiece in the `tokenizers` library."""
    models = pytest.importorskip("tokenizers.models")
    tokenize = solution_env_of["02_bert"]["wordpiece_tokenize"]
    rng = random.Random(0)
    vocab = {"[UNK]"}
    while len(vocab) < 40:
        piece = "".join(rng.choice("abc") for _ in range(rng.randint(1, 3)))
        vocab.add(piece if rng.random() < 0.5 else "##" + piece)
    model = models.WordPiece({t: i for i, t in enumerate(sorted(vocab))}, unk_token="[UNK]",
                             max_input_chars_per_word=6)  # fmt: skip
    for _ in range(2000):
        word = "".join(rng.choice("abcd") for _ in range(rng.randint(1, 8)))
        expected = [token.value for token in model.tokenize(word)]
        assert tokenize(word, vocab, "[UNK]", 6) == expected, word


def test_time_limit_applies_to_the_new_questions(tests_of, solution_env_of, monkeypatch):
    monkeypatch.setattr(grading, "DEFAULT_SECONDS", 0.5)

    def loops(sentences, block_size, cls_id, sep_id, pad_id):
        while True:
            pass

    test = run_question(
        tests_of["03_roberta"]["q3"],
        {**solution_env_of["03_roberta"], "pack_full_sentences": loops},
    )
    assert test.score == 0
    assert all("did not finish within 0.5 s" in m for m in failure_messages(test))
