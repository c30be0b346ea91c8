"""Grading: robustness helpers, bad submissions, wrong answers (mutants) and the grade command.

Function-level cases run otter's test files in this process (no kernel, torch imported once);
only the CSV path and the whole-submission timeout go through subprocesses and kernels.
"""

from __future__ import annotations

import csv
import math
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
import torch
from exercise_fixtures.submissions import (
    check_cell_index,
    load_tests,
    notebook_namespace,
    question_points,
    run_question,
    setup_cell_index,
    with_answer,
    without_cells,
    write_as_colab_download,
)

from course_utils import exercises, grading
from course_utils.grading import (
    GradingFailure,
    call_answer,
    call_with_limit,
    check_close,
    check_tensor,
    get_answer,
    unpack,
)

CHAPTER = "01_attention"
REPO_ROOT = exercises.REPO_ROOT
SOLUTION_NB = REPO_ROOT / exercises.SOLUTION_DIR / f"{CHAPTER}.ipynb"
STUDENT_NB = REPO_ROOT / exercises.STUDENT_DIR / f"{CHAPTER}.ipynb"


# --------------------------------------------------------------------------------------------
# grading.py helpers


def test_get_answer_returns_the_function_or_explains_what_is_missing():
    def split_heads():
        pass

    assert get_answer({"split_heads": split_heads}, "split_heads") is split_heads
    with pytest.raises(GradingFailure, match="`split_heads` is not defined.*delete or rename"):
        get_answer({}, "split_heads")
    with pytest.raises(GradingFailure, match="should be a function, but it is a int"):
        get_answer({"split_heads": 3}, "split_heads")


def test_call_with_limit_returns_the_result_and_restores_the_alarm_handler():
    before = signal.getsignal(signal.SIGALRM)
    assert call_with_limit(lambda a, b=0: a + b, 2, b=3, seconds=1) == 5
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_call_with_limit_stops_an_endless_loop_even_if_it_catches_exceptions():
    def stubborn():
        while True:
            try:
                time.sleep(0.01)
            except Exception:  # a learner's broad except must not swallow the time limit
                pass

    start = time.monotonic()
    with pytest.raises(GradingFailure, match=r"did not finish within 0.2 s \(endless loop\?\)"):
        call_with_limit(stubborn, seconds=0.2)
    assert time.monotonic() - start < 2
    # A function that timed out fails at once afterwards: one limit per question, not per case.
    start = time.monotonic()
    with pytest.raises(GradingFailure, match="in an earlier test"):
        call_with_limit(stubborn, seconds=0.2)
    assert time.monotonic() - start < 0.1


def test_call_with_limit_off_the_main_thread_warns_and_runs_without_limit():
    results: list[Any] = []

    def worker():
        with pytest.warns(RuntimeWarning, match="No time limit"):
            results.append(call_with_limit(lambda: 42, seconds=1))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert results == [42]


def test_call_answer_detects_in_place_changes_and_names_the_argument():
    def scale(q, k):
        q /= 2
        return q + k

    with pytest.raises(GradingFailure, match="`scale` changed its input `q` in place"):
        call_answer(scale, torch.ones(2), torch.ones(2))

    def transpose_inplace(x):
        return x.transpose_(0, 1)

    with pytest.raises(GradingFailure, match="changed its input `x`"):
        call_answer(transpose_inplace, torch.ones(2, 3))
    assert torch.equal(call_answer(lambda x: x * 2, torch.ones(2)), torch.full((2,), 2.0))
    # NaN inputs equal themselves: not reported as changed.
    assert torch.isnan(call_answer(lambda x: x + 1, torch.tensor([math.nan]))).all()


def test_call_answer_passes_not_implemented_through_and_explains_other_errors():
    def stub(x):
        raise NotImplementedError("q1: replace this line")

    def broken(x):
        raise ValueError("boom")

    with pytest.raises(NotImplementedError, match="q1: replace this line"):
        call_answer(stub, torch.ones(1))
    with pytest.raises(GradingFailure, match="`broken` raised ValueError: boom"):
        call_answer(broken, torch.ones(1))


def test_check_tensor_explains_type_shape_dtype_and_non_finite_values():
    good = torch.zeros(2, 3)
    assert check_tensor(good, shape=(2, 3), dtype=torch.float32) is good
    with pytest.raises(GradingFailure, match="output should be a torch.Tensor, but it is a list"):
        check_tensor([1.0], name="output")
    with pytest.raises(
        GradingFailure, match=r"should have shape \(3, 2\), but it has shape \(2, 3\)"
    ):
        check_tensor(good, shape=(3, 2))
    with pytest.raises(GradingFailure, match="should have dtype torch.float64"):
        check_tensor(good, dtype=torch.float64)
    with pytest.raises(GradingFailure, match="contains NaN"):
        check_tensor(torch.tensor([0.0, math.nan]))
    with pytest.raises(GradingFailure, match="contains infinite values"):
        check_tensor(torch.tensor([0.0, math.inf]))


def test_check_close_names_the_worst_entry():
    expected = torch.zeros(2, 3)
    check_close(expected + 1e-7, expected)
    actual = expected.clone()
    actual[1, 2] = 0.5
    actual[0, 0] = 0.1
    with pytest.raises(GradingFailure, match=r"2 of 6 values are wrong.*index \(1, 2\).*got 0.5"):
        check_close(actual, expected, hint="Look here.")


def test_unpack_checks_tuple_and_length():
    assert unpack((1, 2), "output", "weights", function="f") == (1, 2)
    with pytest.raises(GradingFailure, match=r"should return a tuple \(output, weights\).*Tensor"):
        unpack(torch.zeros(1), "output", "weights", function="f")
    with pytest.raises(GradingFailure, match="should return 2 values .* returned 3"):
        unpack((1, 2, 3), "output", "weights", function="f")


# --------------------------------------------------------------------------------------------
# Running the chapter's tests in process


@pytest.fixture(scope="module")
def tests_by_question() -> dict[str, Path]:
    return load_tests(CHAPTER)


@pytest.fixture(scope="module")
def solution_env() -> dict[str, Any]:
    return notebook_namespace(SOLUTION_NB)


def grade_env(tests: dict[str, Path], env: dict[str, Any]) -> dict[str, Any]:
    return {question: run_question(path, env) for question, path in tests.items()}


def failure_messages(test) -> list[str]:
    return [r.message for r in test.test_case_results if not r.passed]


QUESTION_OF = {
    "scaled_dot_product_attention": "q1",
    "split_heads": "q2",
    "merge_heads": "q2",
    "sinusoidal_positions": "q3",
}


def _correct_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, -math.inf)
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def _raises(q, k, v, mask=None):
    raise ValueError("boom")


def _returns_list(q, k, v, mask=None):
    return [1.0, 2.0]


def _returns_output_only(q, k, v, mask=None):
    return _correct_attention(q, k, v, mask)[0]


def _wrong_shape(q, k, v, mask=None):
    output, weights = _correct_attention(q, k, v, mask)
    return output[..., None], weights  # right values, one axis too many


def _returns_nan(q, k, v, mask=None):
    output, weights = _correct_attention(q, k, v, mask)
    return torch.full_like(output, math.nan), torch.full_like(weights, math.nan)


def _mutates_inputs(q, k, v, mask=None):
    q /= math.sqrt(q.shape[-1])  # in place: the caller's tensor changes
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, -math.inf)
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def _loops_forever(q, k, v, mask=None):
    while True:
        pass


BAD_Q1 = {
    "raises": (_raises, "`_raises` raised ValueError: boom"),
    "returns a list": (
        _returns_list,
        "should return a tuple (output, weights), but it returned a list",
    ),
    "returns one tensor": (_returns_output_only, "returned a Tensor"),
    "wrong shape": (_wrong_shape, "should have shape"),
    "NaN": (_returns_nan, "contains NaN"),
    "mutates inputs": (_mutates_inputs, "changed its input `q` in place"),
    "endless loop": (_loops_forever, "did not finish within 0.5 s"),
}


@pytest.mark.parametrize("case", list(BAD_Q1))
def test_bad_q1_gets_zero_with_a_clear_message_and_other_questions_are_graded(
    case, tests_by_question, solution_env, monkeypatch
):
    function, message = BAD_Q1[case]
    monkeypatch.setattr(grading, "DEFAULT_SECONDS", 0.5)  # the real limit is 10 s
    results = grade_env(
        tests_by_question, {**solution_env, "scaled_dot_product_attention": function}
    )
    q1 = results["q1"]
    assert q1.score == 0
    assert all(message in m for m in failure_messages(q1)), failure_messages(q1)
    for question in ("q2", "q3"):
        assert results[question].passed_all, results[question].summary()


@pytest.mark.parametrize("question", ["q1", "q2", "q3"])
def test_deleted_answer_cell_gets_zero_with_a_clear_message(
    question, tests_by_question, solution_env
):
    deleted = [name for name, q in QUESTION_OF.items() if q == question]  # the cell's functions
    env = {k: v for k, v in solution_env.items() if k not in deleted}
    results = grade_env(tests_by_question, env)
    assert results[question].score == 0
    messages = failure_messages(results[question])
    assert all(any(f"`{name}` is not defined" in m for name in deleted) for m in messages)
    for other in set(results) - {question}:
        assert results[other].passed_all, results[other].summary()


# Plausible wrong answers. Each must lose points on the hidden tests (not only the public ones).


def _attention_variant(scale: Callable[[torch.Tensor, torch.Tensor], float], masking: str, dim=-1):
    def attention(q, k, v, mask=None):
        scores = q @ k.transpose(-2, -1) / scale(q, k)
        if mask is not None and masking == "before":
            scores = scores.masked_fill(~mask, -math.inf)
        if mask is not None and masking == "inverted":
            scores = scores.masked_fill(mask, -math.inf)
        weights = torch.softmax(scores, dim=dim)
        if mask is not None and masking == "after":
            weights = weights * mask
        return weights @ v, weights

    return attention


def _sqrt_d(q, k):
    return math.sqrt(q.shape[-1])


def _manual_softmax_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, -math.inf)
    exp = torch.exp(scores)
    weights = exp / exp.sum(dim=-1, keepdim=True)
    return weights @ v, weights


def _split_no_transpose(x, num_heads):
    b, t, d = x.shape
    return x.reshape(b, num_heads, t, d // num_heads)


def _split_bthd(x, num_heads):
    b, t, d = x.shape
    return x.reshape(b, t, num_heads, d // num_heads)


def _split_interleaved(x, num_heads):
    b, t, d = x.shape
    return x.reshape(b, t, d // num_heads, num_heads).permute(0, 3, 1, 2)


def _merge_no_transpose(x):
    b, h, t, dh = x.shape
    return x.reshape(b, t, h * dh)


def _positions(exponent: Callable[[torch.Tensor, int], torch.Tensor], swap=False, multiply=False):
    def sinusoidal_positions(num_positions, dim):
        column = torch.arange(dim)
        angles_base = 10000.0 ** exponent(column, dim).double()
        position = torch.arange(num_positions).double()[:, None]
        angles = position * angles_base if multiply else position / angles_base
        even, odd = (angles.cos(), angles.sin()) if swap else (angles.sin(), angles.cos())
        return torch.where(column % 2 == 0, even, odd).float()

    return sinusoidal_positions


def _right_exponent(column, dim):
    return 2 * (column // 2) / dim


MUTANTS = {
    "q1: no 1/sqrt(d) scaling": (
        "scaled_dot_product_attention",
        _attention_variant(lambda q, k: 1.0, "before"),
    ),
    "q1: scaled by 1/d": (
        "scaled_dot_product_attention",
        _attention_variant(lambda q, k: q.shape[-1], "before"),
    ),
    "q1: scaled by sqrt(T_k) instead of sqrt(d)": (
        "scaled_dot_product_attention",
        _attention_variant(lambda q, k: math.sqrt(k.shape[-2]), "before"),
    ),
    "q1: mask applied after softmax": (
        "scaled_dot_product_attention",
        _attention_variant(_sqrt_d, "after"),
    ),
    "q1: mask polarity inverted": (
        "scaled_dot_product_attention",
        _attention_variant(_sqrt_d, "inverted"),
    ),
    "q1: mask ignored": ("scaled_dot_product_attention", _attention_variant(_sqrt_d, "ignored")),
    "q1: softmax over queries": (
        "scaled_dot_product_attention",
        _attention_variant(_sqrt_d, "before", dim=-2),
    ),
    "q1: softmax as exp/sum (overflows)": (
        "scaled_dot_product_attention",
        _manual_softmax_attention,
    ),
    "q2: split by reshape without transpose": ("split_heads", _split_no_transpose),
    "q2: split in (B, T, H, D) order": ("split_heads", _split_bthd),
    "q2: heads interleaved": ("split_heads", _split_interleaved),
    "q2: merge by reshape without transpose": ("merge_heads", _merge_no_transpose),
    "q3: exponent i/dim instead of 2i/dim": (
        "sinusoidal_positions",
        _positions(lambda c, d: (c // 2) / d),
    ),
    "q3: column index instead of pair index": (
        "sinusoidal_positions",
        _positions(lambda c, d: c / d),
    ),
    "q3: 2i/(dim - 1)": ("sinusoidal_positions", _positions(lambda c, d: 2 * (c // 2) / (d - 1))),
    "q3: sin and cos swapped": ("sinusoidal_positions", _positions(_right_exponent, swap=True)),
    "q3: multiplied by 10000^(2i/dim)": (
        "sinusoidal_positions",
        _positions(_right_exponent, multiply=True),
    ),
}


def test_reference_versions_of_the_mutant_builders_pass(tests_by_question, solution_env):
    """The mutants differ from correct code only in their bug: the unmutated builders pass."""
    env = {
        **solution_env,
        "scaled_dot_product_attention": _attention_variant(_sqrt_d, "before"),
        "sinusoidal_positions": _positions(_right_exponent),
    }
    results = grade_env(tests_by_question, env)
    assert all(test.passed_all for test in results.values()), {
        q: failure_messages(t) for q, t in results.items()
    }


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_hidden_tests_catch_plausible_wrong_answer(mutant, tests_by_question, solution_env):
    name, function = MUTANTS[mutant]
    question = QUESTION_OF[name]
    test = run_question(tests_by_question[question], {**solution_env, name: function})
    hidden_failed = [r for r in test.test_case_results if r.test_case.hidden and not r.passed]
    assert hidden_failed, f"{mutant} passed every hidden test of {question}"
    assert test.score < test.possible


# --------------------------------------------------------------------------------------------
# The grade command, end to end (subprocesses, kernels)


def _write(nb: nbformat.NotebookNode, path: Path) -> None:
    nbformat.write(nb, path)


def _broken_submission() -> nbformat.NotebookNode:
    """q1 solved; grader setup, q2's answer and check cells deleted; q3 loops forever."""
    student = nbformat.read(STUDENT_NB, as_version=4)
    solution = nbformat.read(SOLUTION_NB, as_version=4)
    solved_q1 = solution.cells[
        [
            i
            for i, c in enumerate(solution.cells)
            if "def scaled_dot_product_attention(" in c.source
        ][0]
    ].source
    nb = with_answer(student, "scaled_dot_product_attention", solved_q1)
    nb = with_answer(
        nb,
        "sinusoidal_positions",
        "def sinusoidal_positions(num_positions, dim):\n    while True:\n        pass",
    )
    split_cell = [i for i, c in enumerate(nb.cells) if "def split_heads(" in c.source][0]
    return without_cells(nb, setup_cell_index(nb), split_cell, check_cell_index(nb, "q2"))


def test_grade_command_writes_the_expected_csv(tmp_path):
    """Correct (downloaded from Colab), untouched, broken and unreadable submissions."""
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    write_as_colab_download(nbformat.read(SOLUTION_NB, as_version=4), submissions / "correct.ipynb")
    _write(nbformat.read(STUDENT_NB, as_version=4), submissions / "untouched.ipynb")
    _write(_broken_submission(), submissions / "broken.ipynb")
    (submissions / "garbage.ipynb").write_text("not a notebook")
    out = tmp_path / "grades.csv"

    status = exercises.main(
        ["grade", "--chapter", CHAPTER, str(submissions), "--out", str(out), "--jobs", "2"]
    )

    assert status == 0
    full = {q: int(points) for q, points in question_points(CHAPTER).items()}
    assert list(full) == ["q1", "q2", "q3"]
    expected = [
        ["submission", "q1", "q2", "q3", "total", "error"],
        ["broken.ipynb", str(full["q1"]), "0", "0", str(full["q1"]), ""],
        ["correct.ipynb", *map(str, full.values()), str(sum(full.values())), ""],
        [
            "garbage.ipynb",
            "0",
            "0",
            "0",
            "0",
            "could not grade: NotJSONError: Notebook does not appear to be JSON: 'not a notebook'",
        ],
        ["untouched.ipynb", "0", "0", "0", "0", ""],
    ]
    with out.open(newline="") as f:
        assert list(csv.reader(f)) == expected
    feedback = (tmp_path / "grades-feedback" / "broken.txt").read_text()
    assert "`split_heads` is not defined" in feedback
    assert "did not finish within 10 s (endless loop?)" in feedback
    untouched = (tmp_path / "grades-feedback" / "untouched.txt").read_text()
    assert "NotImplementedError" in untouched


def test_grade_command_times_out_a_hanging_submission(tmp_path):
    student = nbformat.read(STUDENT_NB, as_version=4)
    student.cells.append(nbformat.v4.new_code_cell("while True:\n    pass"))
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    _write(student, submissions / "hangs.ipynb")

    rows = exercises.grade(CHAPTER, submissions, tmp_path / "grades.csv", timeout=3)

    assert rows == [
        {
            "submission": "hangs.ipynb",
            "q1": "0",
            "q2": "0",
            "q3": "0",
            "total": "0",
            "error": "grading did not finish within 3 s (endless loop outside the graded "
            "functions?)",
        }
    ]
