"""Generated exercise notebooks: up to date, deterministic, no leaks, and proven both ways.

Solutions must pass every test (public and hidden) and run cleanly; untouched student notebooks
must fail every question with NotImplementedError and nothing else.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest
from exercise_fixtures.submissions import (
    ANSWER_TAG,
    assign_output,
    load_tests,
    notebook_namespace,
    run_question,
    setup_cell_index,
)

from course_utils import colab, exercises

ROOT = exercises.REPO_ROOT
CHAPTERS = exercises.chapter_names()


def student_path(chapter: str) -> Path:
    return ROOT / exercises.STUDENT_DIR / f"{chapter}.ipynb"


def solution_path(chapter: str) -> Path:
    return ROOT / exercises.SOLUTION_DIR / f"{chapter}.ipynb"


def test_there_are_chapters_with_three_to_six_questions():
    assert "01_attention" in CHAPTERS
    for chapter in CHAPTERS:
        assert 3 <= len(load_tests(chapter)) <= 6, chapter


# --------------------------------------------------------------------------------------------
# Generation


def test_committed_notebooks_are_what_generate_writes():
    assert exercises.check(CHAPTERS) == []


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_generation_is_deterministic_and_normalised(chapter):
    first, second = exercises.render_chapter(chapter), exercises.render_chapter(chapter)
    assert first == second
    for rel, text in first.items():
        # No trace of otter's temporary build folder or its timestamped zip name.
        assert "assign-" not in text and "autograder_20" not in text, f"{rel} leaks a build path"
        nb = nbformat.reads(text, as_version=4)
        # The ids nbstripout (>= 0.7, a pre-commit hook here) writes, so it changes nothing.
        assert [c.id for c in nb.cells] == [str(i) for i in range(len(nb.cells))]
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None
        assert text == nbformat.writes(nb) + "\n", f"{rel} is not in nbformat's JSON layout"


def test_nbstripout_hook_leaves_generated_notebooks_unchanged(tmp_path):
    """The repo's pre-commit runs nbstripout: it must not rewrite generated files."""
    paths = [p for c in CHAPTERS for p in (student_path(c), solution_path(c))]
    copies = []
    for i, path in enumerate(paths):
        copies.append(tmp_path / f"{i}-{path.name}")
        shutil.copyfile(path, copies[-1])
    subprocess.run([sys.executable, "-m", "nbstripout", *map(str, copies)], check=True)
    for path, copy in zip(paths, copies, strict=True):
        assert copy.read_bytes() == path.read_bytes(), f"nbstripout changes {path}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_notebooks_start_with_the_colab_badge_and_install_cell(chapter):
    for path in (student_path(chapter), solution_path(chapter)):
        assert colab.problems(path) == []
        nb = nbformat.read(path, as_version=4)
        assert setup_cell_index(nb) > 1  # after the badge and the install cell


def test_check_exits_1_with_a_diff_when_a_committed_copy_differs(tmp_path, capsys):
    shutil.copytree(ROOT / exercises.SOURCE_DIR, tmp_path / exercises.SOURCE_DIR)
    assert exercises.main(["--root", str(tmp_path), "generate"]) == 0
    assert exercises.main(["--root", str(tmp_path), "check"]) == 0
    capsys.readouterr()

    edited = tmp_path / exercises.STUDENT_DIR / f"{CHAPTERS[0]}.ipynb"
    edited.write_text(edited.read_text().replace("NotImplementedError", "NotImplemented"))
    (tmp_path / exercises.SOLUTION_DIR / f"{CHAPTERS[0]}.ipynb").unlink()
    (tmp_path / exercises.SOLUTION_DIR / "99_orphan.ipynb").write_text("{}")

    assert exercises.main(["--root", str(tmp_path), "check"]) == 1
    out = capsys.readouterr().out
    assert f"exercises/{CHAPTERS[0]}.ipynb differs from what its source generates" in out
    assert re.search(r"^\+.*NotImplementedError", out, flags=re.MULTILINE)  # the diff itself
    assert f"solutions/{CHAPTERS[0]}.ipynb is missing" in out
    assert "solutions/99_orphan.ipynb has no source notebook" in out
    assert "Run `make exercises`" in out


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        exercises.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("generate", "check", "grade", "build-autograder", "grade-one"):
        assert command in out


# --------------------------------------------------------------------------------------------
# What the student notebook contains


def _test_functions(path: Path) -> dict[str, tuple[bool, str]]:
    """Test function name -> (hidden, source with its decorator and messages) in a test file."""
    lines = path.read_text().splitlines()
    found = {}
    for node in ast.parse("\n".join(lines)).body:
        if isinstance(node, ast.FunctionDef):
            call = node.decorator_list[0]
            hidden = next(k.value.value for k in call.keywords if k.arg == "hidden")
            found[node.name] = (hidden, "\n".join(lines[call.lineno - 1 : node.end_lineno]))
    return found


def _all_text(nb: nbformat.NotebookNode) -> str:
    return "\n".join(c.source for c in nb.cells) + json.dumps(nb.metadata)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_hidden_tests_never_appear_in_student_or_solution_notebooks(chapter):
    functions = {
        name: info
        for path in load_tests(chapter).values()
        for name, info in _test_functions(path).items()
    }
    public_lines = {
        line.strip()
        for hidden, src in functions.values()
        if not hidden
        for line in src.splitlines()
    }
    hidden_only = [
        (name, {line.strip() for line in src.splitlines()} - public_lines)
        for name, (hidden, src) in functions.items()
        if hidden
    ]
    assert hidden_only and all(lines for _, lines in hidden_only)
    for path in (student_path(chapter), solution_path(chapter)):
        raw = path.read_text()
        text = _all_text(nbformat.reads(raw, as_version=4))
        for name, (hidden, _) in functions.items():
            # Public tests are there (so this check would notice a leak); hidden ones are not.
            assert (name in raw) is not hidden, f"{name} (hidden={hidden}) in {path.name}"
        for name, lines in hidden_only:
            leaked = sorted(line for line in lines if line in text)
            assert not leaked, f"{path.name} contains code of hidden test {name}: {leaked}"


def _embedded_public_tests(nb: nbformat.NotebookNode) -> dict[str, str]:
    tree = ast.parse(nb.cells[setup_cell_index(nb)].source)
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "PUBLIC_TESTS":
            return ast.literal_eval(node.value)
    raise AssertionError("no PUBLIC_TESTS in the grader setup cell")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_setup_cell_holds_exactly_the_public_tests(chapter, tmp_path):
    nb = nbformat.read(student_path(chapter), as_version=4)
    embedded = _embedded_public_tests(nb)
    built = load_tests(chapter)
    assert sorted(embedded) == sorted(built)
    for question, text in embedded.items():
        (tmp_path / f"{question}.py").write_text(text)
        public = {n for n, (hidden, _) in _test_functions(tmp_path / f"{question}.py").items()}
        expected = {n for n, (hidden, _) in _test_functions(built[question]).items() if not hidden}
        assert public == expected and public, question
        assert f'grader.check("{question}")' in [c.source for c in nb.cells]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_student_notebook_has_stubs_and_no_solution_code(chapter):
    student = nbformat.read(student_path(chapter), as_version=4)
    solution = nbformat.read(solution_path(chapter), as_version=4)
    answers = [c for c in student.cells if ANSWER_TAG in c.metadata.get("tags", [])]
    assert answers and all("raise NotImplementedError" in c.source for c in answers)
    solved = [
        c for c in solution.cells if "otter_assign_solution_cell" in c.metadata.get("tags", [])
    ]
    assert len(solved) == len(answers)
    student_text = _all_text(student)
    for cell in solved:
        assert "NotImplementedError" not in cell.source and "# BEGIN" not in cell.source
        body = {line.strip() for line in cell.source.splitlines()}
        stub = {line.strip() for c in answers for line in c.source.splitlines()}
        solution_lines = sorted(line for line in body - stub if line)
        assert solution_lines
        leaked = [line for line in solution_lines if line in student_text]
        assert not leaked, f"solution code in the student notebook: {leaked}"


# --------------------------------------------------------------------------------------------
# Proven both ways, in process (no kernel)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solutions_pass_every_public_and_hidden_test(chapter):
    env = notebook_namespace(solution_path(chapter))
    for question, path in load_tests(chapter).items():
        test = run_question(path, env)
        assert any(r.test_case.hidden for r in test.test_case_results), question
        assert test.passed_all, test.summary()


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_untouched_student_code_fails_every_test_only_with_not_implemented(chapter):
    env = notebook_namespace(student_path(chapter))
    for path in load_tests(chapter).values():
        test = run_question(path, env)
        assert test.score == 0
        for result in test.test_case_results:
            assert not result.passed
            last_line = result.message.strip().splitlines()[-1]
            assert last_line.startswith("NotImplementedError: "), result.message


def test_grader_setup_cell_works_on_colab_without_the_notebook_file(tmp_path, monkeypatch):
    """On Colab otter cannot read the .ipynb (metadata tests); the setup cell needs no file."""
    import otter.check.utils

    class ColabShell:
        def __str__(self) -> str:
            return "<google.colab._shell.Shell object>"

    monkeypatch.setattr(otter.check.utils, "get_ipython", lambda: ColabShell())
    monkeypatch.chdir(tmp_path)  # otter writes its .OTTER_LOG here; no notebook in this folder
    chapter = CHAPTERS[0]
    solution = nbformat.read(solution_path(chapter), as_version=4)
    env = notebook_namespace(solution_path(chapter))
    exec(solution.cells[setup_cell_index(solution)].source, env)
    grader = env["grader"]
    assert grader.interpreter is otter.check.utils.IPythonInterpreter.COLAB
    for question in load_tests(chapter):
        result = grader.check(question, global_env=env)
        assert result.passed_all and all(not r.test_case.hidden for r in result.test_case_results)


# --------------------------------------------------------------------------------------------
# Proven both ways, in a real kernel


def _execute(path: Path, cwd: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute(env=exercises.subprocess_env())  # raises CellExecutionError on any error
    return nb


def _check_outputs(nb: nbformat.NotebookNode) -> dict[str, str]:
    found = {}
    for cell in nb.cells:
        match = re.fullmatch(r'grader\.check\("(\w+)"\)', cell.source)
        if match:
            found[match.group(1)] = "".join(
                o.get("data", {}).get("text/plain", "") for o in cell.outputs
            )
    return found


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_untouched_student_notebook_runs_and_every_check_reports_not_implemented(chapter, tmp_path):
    outputs = _check_outputs(_execute(student_path(chapter), tmp_path))
    assert sorted(outputs) == sorted(load_tests(chapter))
    for question, text in outputs.items():
        public = sum(
            not hidden for hidden, _ in _test_functions(load_tests(chapter)[question]).values()
        )
        assert text.count("❌ Test case failed") == public, text
        errors = re.findall(r"^\s*(\w+(?:Error|Exception|Failure)):", text, flags=re.MULTILINE)
        assert errors == ["NotImplementedError"] * public, text


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solution_notebook_runs_and_passes_every_check(chapter, tmp_path):
    outputs = _check_outputs(_execute(solution_path(chapter), tmp_path))
    assert sorted(outputs) == sorted(load_tests(chapter))
    for question, text in outputs.items():
        assert text.startswith(f"{question} results: All test cases passed!"), text


def test_assign_output_has_hidden_tests_only_on_the_autograder_side():
    out = assign_output(CHAPTERS[0])
    for path in load_tests(CHAPTERS[0]).values():
        student_side = _test_functions(out.public_tests / path.name)
        assert student_side and not any(hidden for hidden, _ in student_side.values())
        assert any(hidden for hidden, _ in _test_functions(path).values())
