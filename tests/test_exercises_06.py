"""Chapter 6 (embeddings): the hidden tests catch plausible wrong answers (mutants).

As in test_exercises_02_03.py, every case runs otter's test files in this process against the
solution notebook's namespace with one function replaced. The generic checks (solutions pass,
stubs fail only with NotImplementedError, notebooks run) are in test_exercises.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from exercise_fixtures.mutants import MutantChecks, chapter_fixtures
from exercise_fixtures.submissions import run_question
from scipy.stats import rankdata

CHAPTER = "06_embeddings"
QUESTION_OF = {"masked_mean_pool": "q1", "cosine_matrix": "q2", "spearman": "q3"}


tests, solution_env = chapter_fixtures(CHAPTER)


# q1 mutants -----------------------------------------------------------------------------------


def _mean_all_positions(hidden, attention_mask):
    return hidden.mean(dim=1)


def _divide_by_length(hidden, attention_mask):
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * mask).sum(1) / hidden.shape[1]


def _no_clamp(hidden, attention_mask):
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * mask).sum(1) / mask.sum(1)


def _float_mask(hidden, attention_mask):
    mask = attention_mask.float().unsqueeze(-1)  # float16 hidden comes back as float32
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


def _in_place(hidden, attention_mask):
    hidden *= attention_mask.to(hidden.dtype).unsqueeze(-1)
    return hidden.sum(1) / attention_mask.to(hidden.dtype).sum(1, keepdim=True).clamp(min=1)


def _first_token(hidden, attention_mask):
    return hidden[:, 0].clone()


def _sum_pool(hidden, attention_mask):
    return (hidden * attention_mask.to(hidden.dtype).unsqueeze(-1)).sum(1)


# q2 mutants -----------------------------------------------------------------------------------


def _dot_only(a, b):
    return a @ b.T


def _normalise_a_only(a, b):
    return a / a.norm(dim=1, keepdim=True).clamp(min=1e-8) @ b.T


def _wrong_axis(a, b):
    return (a / a.norm(dim=0, keepdim=True).clamp(min=1e-8)) @ (
        b / b.norm(dim=0, keepdim=True).clamp(min=1e-8)
    ).T


def _nan_for_zero(a, b):
    return (a / a.norm(dim=1, keepdim=True)) @ (b / b.norm(dim=1, keepdim=True)).T


def _big_eps(a, b):
    return (a / (a.norm(dim=1, keepdim=True) + 1e-2)) @ (b / (b.norm(dim=1, keepdim=True) + 1e-2)).T


def _product_of_norms_wrong(a, b):
    return (a @ b.T) / (a.norm() * b.norm()).clamp(min=1e-8)  # whole-matrix norms


# q3 mutants -----------------------------------------------------------------------------------


def _pearson(x, y) -> float:
    return float(torch.corrcoef(torch.tensor([x, y], dtype=torch.float64))[0, 1])


def _ranked(method: str) -> Callable[[list[float], list[float]], float]:
    def spearman(x, y):
        return _pearson(list(rankdata(x, method=method)), list(rankdata(y, method=method)))

    return spearman


def _ordinal_argsort(x, y) -> float:
    def ranks(v):
        return torch.tensor(v, dtype=torch.float64).argsort().argsort().double().tolist()

    return _pearson(ranks(x), ranks(y))


def _shortcut_formula(x, y) -> float:
    rx, ry = rankdata(x), rankdata(y)
    n = len(x)
    return float(1 - 6 * ((rx - ry) ** 2).sum() / (n * (n * n - 1)))


def _times_100(x, y) -> float:
    return 100 * _ranked("average")(x, y)


MUTANTS: dict[str, tuple[str, Callable[..., Any]]] = {
    "plain mean over padding too": ("masked_mean_pool", _mean_all_positions),
    "masked sum divided by the padded length": ("masked_mean_pool", _divide_by_length),
    "NaN for all-padding rows": ("masked_mean_pool", _no_clamp),
    "mask cast to float32 (dtype changes)": ("masked_mean_pool", _float_mask),
    "multiplies hidden in place": ("masked_mean_pool", _in_place),
    "first token instead of the mean": ("masked_mean_pool", _first_token),
    "masked sum, not mean": ("masked_mean_pool", _sum_pool),
    "dot product without normalising": ("cosine_matrix", _dot_only),
    "only a normalised": ("cosine_matrix", _normalise_a_only),
    "normalised along the wrong axis": ("cosine_matrix", _wrong_axis),
    "NaN for zero vectors": ("cosine_matrix", _nan_for_zero),
    "eps added to every norm": ("cosine_matrix", _big_eps),
    "divides by whole-matrix norms": ("cosine_matrix", _product_of_norms_wrong),
    "Pearson on the values": ("spearman", _pearson),
    "ties ranked in order of appearance": ("spearman", _ranked("ordinal")),
    "ties given the lowest rank": ("spearman", _ranked("min")),
    "ties given dense ranks": ("spearman", _ranked("dense")),
    "argsort of argsort (no tie handling)": ("spearman", _ordinal_argsort),
    "1 - 6 sum d^2 / n(n^2 - 1) with ties": ("spearman", _shortcut_formula),
    "rho times 100": ("spearman", _times_100),
}


def test_correct_alternatives_pass(tests, solution_env):
    """Other correct answers (scipy's ranks, torch's cosine) pass every test."""
    import torch.nn.functional as F

    def scipy_spearman(x, y):
        return _ranked("average")(x, y)

    def torch_cosine(a, b):
        return F.cosine_similarity(a[:, None, :], b[None, :, :], dim=-1)

    env = {**solution_env, "spearman": scipy_spearman, "cosine_matrix": torch_cosine}
    for question in ("q2", "q3"):
        result = run_question(tests[question], env)
        assert result.score == result.possible, question


class TestMutants(MutantChecks):
    """The checks every chapter shares (exercise_fixtures.mutants), for this chapter's mutants."""

    CHAPTER, QUESTION_OF, MUTANTS = CHAPTER, QUESTION_OF, MUTANTS
