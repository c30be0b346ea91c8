"""The GLUE metric, the course's offline copy of `evaluate`'s `glue` module, accuracy tasks only.

Loaded as `evaluate.load(<this folder>, "sst2")`, like the Hub's `evaluate.load("glue", "sst2")`:
same inputs (`predictions`, `references`: class ids) and the same output, {"accuracy": float},
for the GLUE tasks scored by accuracy alone (sst2, mnli, mnli_matched, mnli_mismatched, qnli,
rte, wnli, hans). The tasks with other scores (cola: Matthews correlation; mrpc and qqp: F1 too;
stsb: Pearson and Spearman) are refused with a clear message rather than scored wrongly. The
accuracy is computed here, so tests can compare it with scikit-learn's accuracy_score.
"""

from __future__ import annotations

import datasets
import evaluate
import numpy as np

ACCURACY_TASKS = (
    "sst2",
    "mnli",
    "mnli_mismatched",
    "mnli_matched",
    "qnli",
    "rte",
    "wnli",
    "hans",
)

_DESCRIPTION = """GLUE (Wang et al. 2018) task scores. For the tasks covered here the score is
accuracy: the fraction of predictions equal to the reference label."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of int): predicted class ids.
    references (list of int): gold class ids.
Returns:
    accuracy (float): fraction of exact matches, in [0, 1].
Examples:
    >>> metric = evaluate.load("src/course_utils/metric_modules/glue", "sst2")
    >>> metric.compute(predictions=[0, 1, 1], references=[0, 1, 0])
    {'accuracy': 0.6666666666666666}
"""

_CITATION = """@inproceedings{wang2019glue,
  title={{GLUE}: A Multi-Task Benchmark and Analysis Platform for Natural Language Understanding},
  author={Wang, Alex and Singh, Amanpreet and Michael, Julian and Hill, Felix and Levy, Omer
          and Bowman, Samuel R.},
  booktitle={International Conference on Learning Representations},
  year={2019}
}"""


def simple_accuracy(predictions: np.ndarray, references: np.ndarray) -> float:
    """Fraction of positions where the two integer arrays agree."""
    return float((np.asarray(predictions) == np.asarray(references)).mean())


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Glue(evaluate.Metric):
    """GLUE accuracy for the accuracy-only tasks (config name = task)."""

    COURSE_MODULE = True  # tells callers (downstream.metric_implementation) which copy this is

    def _info(self) -> evaluate.MetricInfo:
        if self.config_name not in ACCURACY_TASKS:
            raise KeyError(
                f"The course's offline GLUE metric covers the accuracy tasks "
                f"{', '.join(ACCURACY_TASKS)}; got config {self.config_name!r}. Use the Hub "
                "module (evaluate.load('glue', name)) for cola, mrpc, qqp and stsb."
            )
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references) -> dict:
        if len(predictions) != len(references) or len(predictions) == 0:
            raise ValueError(
                f"glue needs two non-empty lists of the same length, got {len(predictions)} "
                f"predictions and {len(references)} references."
            )
        return {"accuracy": simple_accuracy(predictions, references)}
