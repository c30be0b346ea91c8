import pytest
import torch

from course_utils.budget import BUDGETS, Budget, get_budget
from course_utils.errors import CourseError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("COURSE_BUDGET", raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_names():
    assert BUDGETS == ("ci", "cpu", "gpu")


def test_pick_and_str():
    values = dict(ci=10, cpu=200, gpu=5000)
    assert [Budget(name).pick(**values) for name in BUDGETS] == [10, 200, 5000]
    assert str(Budget("cpu")) == "budget=cpu"


def test_pick_requires_all_three_by_keyword():
    with pytest.raises(TypeError):
        Budget("ci").pick(1, 2, 3)
    with pytest.raises(TypeError):
        Budget("ci").pick(ci=1, cpu=2)


def test_explicit_name_wins(monkeypatch):
    monkeypatch.setenv("COURSE_BUDGET", "gpu")
    monkeypatch.setenv("CI", "true")
    assert get_budget("cpu") == Budget("cpu")


def test_env_beats_ci(monkeypatch):
    monkeypatch.setenv("COURSE_BUDGET", "gpu")
    monkeypatch.setenv("CI", "true")
    assert get_budget().name == "gpu"


@pytest.mark.parametrize(
    ("ci", "expected"), [("true", "ci"), ("1", "ci"), ("false", "cpu"), ("0", "cpu"), ("", "cpu")]
)
def test_ci_variable(monkeypatch, ci, expected):
    monkeypatch.setenv("CI", ci)
    assert get_budget().name == expected


def test_gpu_when_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_budget().name == "gpu"


def test_cpu_default():
    assert get_budget().name == "cpu"


def test_unknown_name_lists_valid_ones():
    with pytest.raises(CourseError) as info:
        get_budget("huge")
    assert "'huge'" in str(info.value) and "ci, cpu, gpu" in info.value.fix


def test_unknown_env_names_the_variable(monkeypatch):
    monkeypatch.setenv("COURSE_BUDGET", "fast")
    with pytest.raises(CourseError, match="COURSE_BUDGET='fast'"):
        get_budget()


def test_budget_is_frozen():
    with pytest.raises(AttributeError):
        Budget("ci").name = "gpu"
