"""course_utils.metrics and the course's own evaluate module for Spearman's rho."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from course_utils import metrics
from course_utils.errors import CourseError


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def course_metric(offline):
    return metrics.load_metric("spearmanr", verbose=False)


def test_offline_load_says_it_is_the_course_module(offline, capsys):
    metric = metrics.load_metric("spearmanr")
    assert "the course's own evaluate module" in capsys.readouterr().out
    assert type(metric).__name__ == "Spearmanr"


@pytest.mark.parametrize("seed", range(5))
def test_equal_to_scipy_on_random_scores_with_and_without_ties(course_metric, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 400))
    predictions = rng.normal(size=n)
    references = np.round(rng.uniform(0, 5, size=n) * 2) / 2  # STS-like: many tied scores
    if seed % 2:
        predictions = np.round(predictions, 1)  # ties on both sides
    result = course_metric.compute(
        predictions=predictions.tolist(), references=references.tolist(), return_pvalue=True
    )
    expected = spearmanr(predictions, references)
    assert result["spearmanr"] == pytest.approx(expected.statistic, abs=1e-12)
    assert result["spearmanr_pvalue"] == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-300)


def test_known_values_and_edge_cases(course_metric):
    assert course_metric.compute(predictions=[1, 2, 3, 4], references=[10, 20, 40, 30]) == {
        "spearmanr": pytest.approx(0.8)
    }
    assert course_metric.compute(predictions=[1, 2, 3], references=[3, 2, 1])["spearmanr"] == -1
    constant = course_metric.compute(predictions=[1, 1, 1], references=[1, 2, 3])["spearmanr"]
    assert math.isnan(constant)  # scipy gives nan too: a constant list has no ranking
    with pytest.raises(ValueError, match="same length >= 2"):
        course_metric.compute(predictions=[1.0], references=[2.0])


def test_average_ranks_matches_scipy_rankdata():
    from scipy.stats import rankdata

    from course_utils.metric_modules.spearmanr.spearmanr import average_ranks

    values = np.array([3.0, 1.0, 3.0, 2.0, 3.0, 1.0])
    assert average_ranks(values).tolist() == rankdata(values).tolist()


def test_spearman_helper_and_errors(course_metric):
    assert metrics.spearman([0.1, 0.5, 0.3], [1, 3, 2], metric=course_metric) == pytest.approx(1)
    assert "spearmanr" in metrics.local_metrics()
    with pytest.raises(CourseError, match="no offline module"):
        metrics.load_metric("bleu")
    with pytest.raises(CourseError, match="Unknown implementation"):
        metrics.load_metric("spearmanr", implementation="scipy")


def test_hub_only_request_fails_clearly_offline(offline):
    with pytest.raises(CourseError, match="from the Hub"):
        metrics.load_metric("spearmanr", implementation="hub")


def test_auto_announces_a_failed_hub_load(monkeypatch, capsys):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(metrics, "hub_reachable", lambda: True)

    def failing_load(path, *args, **kwargs):
        if path == "spearmanr":
            raise ConnectionError("no route to host")
        return real_load(path, *args, **kwargs)

    import evaluate

    real_load = evaluate.load
    monkeypatch.setattr(evaluate, "load", failing_load)
    metric = metrics.load_metric("spearmanr")
    out = capsys.readouterr().out
    assert "Hub module failed to load (ConnectionError)" in out
    assert "course's own evaluate module" in out
    assert type(metric).__name__ == "Spearmanr"
