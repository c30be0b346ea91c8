"""Spearman rank correlation, the course's offline copy of `evaluate`'s `spearmanr` metric.

Same inputs and outputs as the Hub module (`predictions`, `references`, `return_pvalue`;
returns {"spearmanr": rho} and, on request, "spearmanr_pvalue"). The correlation itself is
computed here from average ranks, so that tests can compare it with scipy.stats.spearmanr.
"""

from __future__ import annotations

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """Spearman's rank correlation coefficient: the Pearson correlation of the ranks
of `predictions` and `references`, with tied values given the average of their ranks. It ranges
from -1 to 1; 1 means both lists order the items identically."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of float): predicted scores, e.g. cosine similarities.
    references (list of float): gold scores, e.g. STS-B similarity judgements (0-5).
    return_pvalue (bool): also return the two-sided p-value (t approximation). Default False.
Returns:
    spearmanr (float): the rank correlation.
    spearmanr_pvalue (float): only with return_pvalue=True.
Examples:
    >>> metric = evaluate.load("src/course_utils/metric_modules/spearmanr")
    >>> metric.compute(predictions=[1, 2, 3, 4], references=[10, 20, 40, 30])
    {'spearmanr': 0.8}
"""

_CITATION = """@book{kokoska2000crc,
  title={CRC Standard Probability and Statistics Tables and Formulae},
  author={Kokoska, Stephen and Zwillinger, Daniel},
  year={2000}, publisher={Chapman \\& Hall/CRC}
}"""


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of `values`; tied values share the average of the ranks they occupy."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    start = 0
    while start < len(values):
        stop = start
        while stop + 1 < len(values) and sorted_values[stop + 1] == sorted_values[start]:
            stop += 1
        ranks[order[start : stop + 1]] = (start + stop) / 2 + 1  # mean of ranks start+1..stop+1
        start = stop + 1
    return ranks


def spearman_rho(predictions: np.ndarray, references: np.ndarray) -> float:
    """Pearson correlation of the average ranks (nan if either side is constant)."""
    a = average_ranks(np.asarray(predictions, dtype=np.float64))
    b = average_ranks(np.asarray(references, dtype=np.float64))
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else float("nan")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Spearmanr(evaluate.Metric):
    """Spearman rank correlation between predictions and references."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("float"), "references": datasets.Value("float")}
            ),
        )

    def _compute(self, predictions, references, return_pvalue: bool = False) -> dict:
        predictions = np.asarray(predictions, dtype=np.float64)
        references = np.asarray(references, dtype=np.float64)
        if len(predictions) != len(references) or len(predictions) < 2:
            raise ValueError(
                f"spearmanr needs two lists of the same length >= 2, got {len(predictions)} "
                f"predictions and {len(references)} references."
            )
        rho = spearman_rho(predictions, references)
        if not return_pvalue:
            return {"spearmanr": rho}
        from scipy.stats import t  # scipy comes with scikit-learn

        n = len(predictions)
        if abs(rho) >= 1.0:
            return {"spearmanr": rho, "spearmanr_pvalue": 0.0}
        statistic = rho * np.sqrt((n - 2) / (1 - rho * rho))
        return {"spearmanr": rho, "spearmanr_pvalue": float(2 * t.sf(abs(statistic), n - 2))}
