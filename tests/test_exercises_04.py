"""Chapter 4 (ELECTRA): the hidden tests catch plausible wrong answers (mutants).

As in test_exercises_06.py, every case runs otter's test files in this process against the
solution notebook's namespace with one function replaced, then again across the sandboxed
grader's plain-data boundary (`loopback_env`). The generic checks (solutions pass, stubs fail
only with NotImplementedError, notebooks run) are in test_exercises.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from exercise_fixtures.mutants import MutantChecks, chapter_fixtures
from exercise_fixtures.submissions import run_question

CHAPTER = "04_electra"
QUESTION_OF = {
    "sample_replacements": "q1",
    "detection_labels": "q2",
    "electra_total_loss": "q3",
}


tests, solution_env = chapter_fixtures(CHAPTER)


# q1 mutants -----------------------------------------------------------------------------------


def _argmax(input_ids, selected, logits, generator):
    out = input_ids.clone()
    out[selected] = logits[selected].argmax(-1)
    return out


def _replace_everywhere(input_ids, selected, logits, generator):
    probs = torch.softmax(logits.detach().flatten(0, 1), -1)
    return torch.multinomial(probs, 1, generator=generator).view(input_ids.shape)


def _global_rng(input_ids, selected, logits, generator):
    out = input_ids.clone()
    out[selected] = torch.multinomial(torch.softmax(logits.detach()[selected], -1), 1).squeeze(-1)
    return out


def _uniform(input_ids, selected, logits, generator):
    out = input_ids.clone()
    n = int(selected.sum())
    out[selected] = torch.randint(0, logits.shape[-1], (n,), generator=generator)
    return out


def _softmax_wrong_axis(input_ids, selected, logits, generator):
    probs = torch.softmax(logits.detach(), dim=1)[selected]  # over positions, not the vocab
    out = input_ids.clone()
    out[selected] = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    return out


def _sigmoid_scores(input_ids, selected, logits, generator):
    probs = torch.sigmoid(logits.detach()[selected])  # not a softmax
    out = input_ids.clone()
    out[selected] = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    return out


def _first_row_for_all(input_ids, selected, logits, generator):
    probs = torch.softmax(logits.detach()[selected][:1], -1)
    out = input_ids.clone()
    n = int(selected.sum())
    out[selected] = torch.multinomial(probs.expand(n, -1), 1, generator=generator).squeeze(-1)
    return out


def _straight_through(input_ids, selected, logits, generator):
    """Gumbel-softmax straight-through: float ids that carry the generator's gradient."""
    gumbel = -torch.log(-torch.log(torch.rand(logits.shape, generator=generator)))
    soft = torch.softmax(logits + gumbel, -1)
    hard = F.one_hot(soft.argmax(-1), logits.shape[-1]).to(soft.dtype)
    onehot = hard + soft - soft.detach()
    ids = (onehot * torch.arange(logits.shape[-1], dtype=soft.dtype)).sum(-1)
    return torch.where(selected, ids, input_ids.to(ids.dtype))


def _in_place(input_ids, selected, logits, generator):
    probs = torch.softmax(logits.detach()[selected], -1)
    input_ids[selected] = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    return input_ids


# q2 mutants -----------------------------------------------------------------------------------


def _selected_is_replaced(original_ids, corrupted_ids, selected):
    return selected.long()


def _swapped(original_ids, corrupted_ids, selected):
    return (corrupted_ids == original_ids).long()


def _bool_labels(original_ids, corrupted_ids, selected):
    return corrupted_ids != original_ids


# q3 mutants -----------------------------------------------------------------------------------


def _padding_included(mlm_loss, disc_logits, labels, attention_mask, disc_weight=50.0):
    bce = F.binary_cross_entropy_with_logits(disc_logits, labels.float())
    return mlm_loss + disc_weight * bce


def _weight_one(mlm_loss, disc_logits, labels, attention_mask, disc_weight=50.0):
    real = attention_mask.bool()
    bce = F.binary_cross_entropy_with_logits(disc_logits[real], labels[real].float())
    return mlm_loss + bce


def _weight_on_mlm(mlm_loss, disc_logits, labels, attention_mask, disc_weight=50.0):
    real = attention_mask.bool()
    bce = F.binary_cross_entropy_with_logits(disc_logits[real], labels[real].float())
    return disc_weight * mlm_loss + bce


def _sum_not_mean(mlm_loss, disc_logits, labels, attention_mask, disc_weight=50.0):
    real = attention_mask.bool()
    bce = F.binary_cross_entropy_with_logits(
        disc_logits[real], labels[real].float(), reduction="sum"
    )
    return mlm_loss + disc_weight * bce


def _sigmoid_then_bce(mlm_loss, disc_logits, labels, attention_mask, disc_weight=50.0):
    real = attention_mask.bool()
    bce = F.binary_cross_entropy(torch.sigmoid(disc_logits[real]), labels[real].float())
    return mlm_loss + disc_weight * bce


def _masked_sum_over_all(mlm_loss, disc_logits, labels, attention_mask, disc_weight=50.0):
    terms = F.binary_cross_entropy_with_logits(disc_logits, labels.float(), reduction="none")
    bce = (terms * attention_mask).sum() / attention_mask.numel()  # zeros padding, wrong count
    return mlm_loss + disc_weight * bce


def _replaced_only(mlm_loss, disc_logits, labels, attention_mask, disc_weight=50.0):
    real = attention_mask.bool() & (labels == 1)
    bce = F.binary_cross_entropy_with_logits(disc_logits[real], labels[real].float())
    return mlm_loss + disc_weight * bce


MUTANTS: dict[str, tuple[str, Callable[..., Any]]] = {
    "argmax instead of a sample": ("sample_replacements", _argmax),
    "samples at every position": ("sample_replacements", _replace_everywhere),
    "global RNG instead of generator": ("sample_replacements", _global_rng),
    "uniform random tokens": ("sample_replacements", _uniform),
    "softmax over positions": ("sample_replacements", _softmax_wrong_axis),
    "sigmoid scores as weights": ("sample_replacements", _sigmoid_scores),
    "first row's distribution everywhere": ("sample_replacements", _first_row_for_all),
    "straight-through float ids": ("sample_replacements", _straight_through),
    "writes into input_ids": ("sample_replacements", _in_place),
    "selected means replaced": ("detection_labels", _selected_is_replaced),
    "labels swapped": ("detection_labels", _swapped),
    "bool labels": ("detection_labels", _bool_labels),
    "padding included": ("electra_total_loss", _padding_included),
    "weight 1": ("electra_total_loss", _weight_one),
    "weight on the MLM loss": ("electra_total_loss", _weight_on_mlm),
    "sum instead of mean": ("electra_total_loss", _sum_not_mean),
    "sigmoid then BCE": ("electra_total_loss", _sigmoid_then_bce),
    "masked sum over every position": ("electra_total_loss", _masked_sum_over_all),
    "replaced tokens only": ("electra_total_loss", _replaced_only),
}


def test_solution_passes_and_equals_the_course_code(tests, solution_env):
    """The solutions pass every test and agree with course_utils.electra."""
    from course_utils import electra

    for question in tests:
        result = run_question(tests[question], solution_env)
        assert result.score == result.possible, question
    gen = torch.Generator().manual_seed(0)
    original = torch.randint(0, 20, (4, 12), generator=gen)
    selected = torch.rand(4, 12, generator=gen) < 0.3
    corrupted = torch.where(selected, torch.randint(0, 20, (4, 12), generator=gen), original)
    labels = solution_env["detection_labels"](original, corrupted, selected)
    ids = torch.where(selected, original, torch.full_like(original, 99))
    course_labels = electra.corrupt(
        ids, torch.where(selected, original, -100), corrupted[selected]
    )[2]
    assert torch.equal(labels, course_labels)
    logits, mask = torch.randn(4, 12, generator=gen), (torch.rand(4, 12) < 0.8).long()
    ours = solution_env["electra_total_loss"](torch.tensor(3.0), logits, labels, mask)
    course = 3.0 + electra.DISC_WEIGHT * electra.detection_loss(logits, labels, mask)
    assert torch.allclose(ours, course)


def test_course_sampler_passes_the_sampling_tests(tests, solution_env):
    """course_utils.electra.sample_replacements (inverse CDF) is a correct answer too."""
    from course_utils import electra

    def course_sampler(input_ids, selected, logits, generator):
        out = input_ids.clone()
        out[selected] = electra.sample_replacements(logits[selected], generator=generator)
        return out

    result = run_question(tests["q1"], {**solution_env, "sample_replacements": course_sampler})
    assert result.score == result.possible, result.summary()


class TestMutants(MutantChecks):
    """The checks every chapter shares (exercise_fixtures.mutants), for this chapter's mutants."""

    CHAPTER, QUESTION_OF, MUTANTS = CHAPTER, QUESTION_OF, MUTANTS
