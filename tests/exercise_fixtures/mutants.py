"""The mutant harness of the chapter exercise tests (chapters 4-7).

A chapter's test file names its questions (`QUESTION_OF`: function -> question) and its plausible
wrong answers (`MUTANTS`: label -> (function, wrong version)), gets its `tests`/`solution_env`
fixtures from `chapter_fixtures`, and subclasses `MutantChecks` for the checks every chapter
shares: each mutant fails a hidden test, in this process and across the sandboxed grader's
plain-data boundary (`loopback_env`, see test_grader_boundary.py), and the solution passes there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from course_utils import exercises
from exercise_fixtures.submissions import (
    load_tests,
    loopback_env,
    notebook_namespace,
    run_question,
)


def chapter_fixtures(chapter: str) -> tuple[Any, Any]:
    """The module-scoped fixtures `tests` (question -> otter test file) and `solution_env` (the
    solution notebook's namespace) of `chapter`; assign both to module names to use them."""

    @pytest.fixture(scope="module", name="tests")
    def tests_fixture() -> dict[str, Any]:
        return load_tests(chapter)

    @pytest.fixture(scope="module", name="solution_env")
    def solution_env_fixture() -> dict[str, Any]:
        return notebook_namespace(exercises.REPO_ROOT / exercises.SOLUTION_DIR / f"{chapter}.ipynb")

    return tests_fixture, solution_env_fixture


class MutantChecks:
    """Checks shared by the chapters; a `Test...` subclass sets the three class attributes."""

    CHAPTER: ClassVar[str]
    QUESTION_OF: ClassVar[dict[str, str]]
    MUTANTS: ClassVar[dict[str, tuple[str, Callable[..., Any]]]]

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """One case per mutant (pytest calls this hook on a test class too)."""
        if "mutant" in metafunc.fixturenames:
            metafunc.parametrize("mutant", list(self.MUTANTS))

    def test_questions_match_the_test_files(self, tests):
        assert set(self.QUESTION_OF.values()) == set(tests)
        assert self.CHAPTER in exercises.chapter_names()

    def test_hidden_tests_catch_plausible_wrong_answer(self, mutant, tests, solution_env):
        name, function = self.MUTANTS[mutant]
        test = run_question(tests[self.QUESTION_OF[name]], {**solution_env, name: function})
        hidden_failed = [r for r in test.test_case_results if r.test_case.hidden and not r.passed]
        assert hidden_failed, f"{mutant} passed every hidden test of {self.QUESTION_OF[name]}"
        assert test.score < test.possible

    def test_solution_passes_across_the_grader_boundary(self, tests, solution_env):
        env = loopback_env(solution_env)
        for path in tests.values():
            result = run_question(path, env)
            assert result.passed_all, result.summary()

    def test_mutants_are_caught_across_the_grader_boundary(self, mutant, tests, solution_env):
        name, function = self.MUTANTS[mutant]
        env = loopback_env({**solution_env, name: function})
        test = run_question(tests[self.QUESTION_OF[name]], env)
        hidden_failed = [r for r in test.test_case_results if r.test_case.hidden and not r.passed]
        assert hidden_failed, f"{mutant} passed every hidden test across the boundary"
