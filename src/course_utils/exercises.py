"""Graded exercises: generate student and solution notebooks, check them, grade submissions.

One source notebook per chapter, ``exercises/source/NN_name.ipynb``, in otter-grader's assign
format (v1): questions, solutions, public tests (feedback for learners) and hidden tests (grading
only). Commands (``python -m course_utils.exercises --help``):

``generate``
    Runs ``otter assign`` on each source in a temporary directory and post-processes the result
    into ``exercises/NN_name.ipynb`` (stubs that raise NotImplementedError, public tests only)
    and ``solutions/NN_name.ipynb`` (complete and runnable). Post-processing makes the files
    byte-for-byte deterministic (sequential cell ids as nbstripout writes them, no outputs or
    execution counts, nbformat's JSON layout), adds the Colab badge and install cell
    (``course_utils.colab``) and replaces the source's ``# GRADER SETUP`` cell with a cell that
    holds the public tests. Keeping the tests inside a cell is what makes ``grader.check`` work on
    Colab and offline: otter's notebook-metadata tests need the .ipynb file on disk, which a Colab
    kernel does not have (otter refuses metadata tests on Colab), and ``tests_url_prefix``
    downloads at run time (JupyterLite only).
``check``
    Regenerates in memory and exits 1, with a diff, when the committed notebooks differ (CI).
``grade --chapter NN_name SUBMISSIONS_DIR --out grades.csv``
    Builds the chapter's public and hidden tests from its source (``otter assign``) and loads
    them in this process, then grades every ``*.ipynb`` in SUBMISSIONS_DIR: the notebook's code
    runs in a per-submission sandbox (:mod:`course_utils.sandbox`: Linux namespaces, a chroot,
    an unprivileged uid, resource limits), the tests run here and see only plain-data results of
    the learner's functions. Time limits per call, per question and per submission are enforced
    from outside (the sandbox is killed). Refuses to grade where no sandbox can be created.
    Writes one CSV row per submission (points per question, total, and an error column for
    submissions that could not be graded at all) and, beside the CSV, a ``<csv stem>-feedback/``
    folder with every submission's per-test feedback (no hidden test text).

Where Docker exists, otter's containerised grader can use the chapter's zip (not safe for credit:
it runs the tests in the learner's process)::

    python -m course_utils.exercises build-autograder --chapter 01_attention --out build/
    otter grade -a build/01_attention-autograder.zip -o results/ --ext ipynb SUBMISSIONS_DIR

The image only has what the zip's requirements name, and the tests import torch and
``course_utils.grading``: first add ``requirements: [torch, "course-utils @ git+<repo URL>"]`` to
the source's ASSIGNMENT CONFIG.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import csv
import difflib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from course_utils import sandbox_codec
from course_utils.colab import sync_notebook
from course_utils.grading import AnswerFailure
from course_utils.sandbox import (
    WAY_OUT,
    Limits,
    RemoteEnv,
    SandboxUnavailable,
    Session,
    SubmissionError,
    unavailable_reason,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIR = Path("exercises") / "source"
STUDENT_DIR = Path("exercises")
SOLUTION_DIR = Path("solutions")
SETUP_PLACEHOLDER = "# GRADER SETUP"
SETUP_TAG = "grader-setup"
#: Default whole-submission time limit (seconds) for `grade`: above the notebook run's limit plus
#: the sum of the question limits (sandbox.Limits), so a slow question never costs the others.
SUBMISSION_TIMEOUT = 600
MAX_NOTEBOOK_BYTES = 20 * 2**20

# Lines that mark solutions in otter's assign format. The solution notebook drops the markers and
# the student-only prompt blocks (otter leaves both in its autograder notebook).
_MARKER_LINE = re.compile(r"^\s*# (BEGIN|END) SOLUTION( NO PROMPT)?\s*$")
_TRAILING_MARKER = re.compile(r"\s*# SOLUTION( NO PROMPT)?\s*$")

SETUP_TEMPLATE = """\
# @title Grader setup: run this cell before the checks
# Sets up otter-grader for the `grader.check("q...")` cells below. This notebook's public tests
# are stored right here, so checking works on Colab, in Jupyter and offline, without downloads.
# Your submission is graded with these tests plus hidden ones.
import pathlib
import tempfile

import otter

PUBLIC_TESTS = {
__TESTS__}

_tests_dir = tempfile.TemporaryDirectory(prefix="__CHAPTER__-tests-")  # removed with the kernel
for _name, _source in PUBLIC_TESTS.items():
    (pathlib.Path(_tests_dir.name) / f"{_name}.py").write_text(_source, encoding="utf-8")
grader = otter.Notebook(tests_dir=_tests_dir.name)
"""


class ExerciseError(RuntimeError):
    """A source notebook or submission folder that this tool cannot process."""


@dataclass(frozen=True)
class AssignOutput:
    """Paths written by one `otter assign` run."""

    student_nb: Path
    autograder_nb: Path
    public_tests: Path  # folder of public test files (student side)
    all_tests: Path  # folder of public + hidden test files (autograder side)
    zip_path: Path  # otter's autograder zip (name carries a timestamp)


def chapter_names(root: Path = REPO_ROOT) -> list[str]:
    """Names (file stems) of all chapters that have a source notebook."""
    return sorted(p.stem for p in (root / SOURCE_DIR).glob("*.ipynb"))


def source_path(chapter: str, root: Path = REPO_ROOT) -> Path:
    path = root / SOURCE_DIR / f"{chapter}.ipynb"
    if not path.is_file():
        raise ExerciseError(f"no source notebook {path} (chapters: {chapter_names(root)})")
    return path


def run_otter_assign(source: Path, workdir: Path) -> AssignOutput:
    """Run otter assign on a copy of `source` inside `workdir` (no PDFs, no test run)."""
    import otter.assign  # slow import (about 5 s): only when needed

    master = workdir / source.name
    shutil.copyfile(source, master)
    result = workdir / "dist"
    otter.assign.main(str(master), str(result), no_pdfs=True, no_run_tests=True)
    zips = sorted((result / "autograder").glob("*.zip"))
    if len(zips) != 1:
        raise ExerciseError(
            f"{source}: expected one autograder zip from otter assign, found {len(zips)}; "
            "is `generate` disabled in the ASSIGNMENT CONFIG?"
        )
    return AssignOutput(
        student_nb=result / "student" / source.name,
        autograder_nb=result / "autograder" / source.name,
        public_tests=result / "student" / "tests",
        all_tests=result / "autograder" / "tests",
        zip_path=zips[0],
    )


def _test_files(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        raise ExerciseError(
            f"otter wrote no test files to {folder}; set `tests: files: true` in the ASSIGNMENT "
            "CONFIG"
        )
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.py"))}


def _count_test_cells(source: Path) -> dict[str, int]:
    """Test cells per question in the source, to catch test functions that shadow each other."""
    counts: dict[str, int] = {}
    question, in_tests = None, False
    for cell in nbformat.read(source, as_version=4).cells:
        text = cell.source.strip()
        if cell.cell_type == "raw" and text.startswith("# BEGIN QUESTION"):
            match = re.search(r"^name:\s*(\S+)", text, flags=re.MULTILINE)
            question = match.group(1) if match else None
        elif cell.cell_type == "raw" and text.startswith("# BEGIN TESTS"):
            in_tests = True
        elif cell.cell_type == "raw" and text.startswith("# END TESTS"):
            in_tests = False
        elif in_tests and cell.cell_type == "code" and question is not None:
            counts[question] = counts.get(question, 0) + 1
    return counts


_CONFIG_LINE = re.compile(r"^\s*(\w+):\s*(.*)$")


def check_test_configs(source: Path) -> None:
    """Fail on a test-config value that YAML would cut: an unquoted value containing ` #`.

    YAML reads ` #` as the start of a comment, so `success_message: gives un ##aff` would
    silently become "gives un". Quote such a value: `success_message: 'gives un ##aff'`.
    """
    for cell in nbformat.read(source, as_version=4).cells:
        if cell.cell_type != "code" or "# BEGIN TEST CONFIG" not in cell.source:
            continue
        config = cell.source.split("# END TEST CONFIG")[0]
        for line in config.splitlines()[1:]:
            match = _CONFIG_LINE.match(line)
            if match and " #" in match.group(2) and match.group(2)[:1] not in "'\"":
                raise ExerciseError(
                    f"{source}: the test config line {line.strip()!r} contains ' #', which YAML "
                    "reads as a comment; put the value in single quotes"
                )


def check_test_files(source: Path, all_tests: Path) -> None:
    """Fail if a built test file has fewer test cases than the source has test cells.

    Otter collects test functions from the module namespace, so two test functions with the same
    name in one question would silently leave only one.
    """
    from otter.nbmeta_config import NBMetadataConfig
    from otter.test_files import create_test_file

    check_test_configs(source)
    for question, expected in _count_test_cells(source).items():
        built = create_test_file(str(all_tests / f"{question}.py"), NBMetadataConfig())
        if len(built.test_cases) != expected:
            raise ExerciseError(
                f"{source}: question {question} has {expected} test cells but "
                f"{len(built.test_cases)} test cases were built; give each test function a "
                "unique name"
            )


def _literal(text: str) -> str:
    """`text` as a raw triple-quoted literal in ruff-format's quote style, checked to read back."""
    literal = f'r"""{text}"""'
    try:
        same = ast.literal_eval(literal) == text
    except SyntaxError:
        same = False
    if not same:
        raise ExerciseError('a test file cannot be embedded as r"""...""" (it contains """)')
    return literal


def _strip_trailing_spaces(text: str) -> str:
    # Otter's test-file template leaves spaces at line ends; linters would flag them in the cell.
    return "".join(line.rstrip() + "\n" for line in text.splitlines())


def setup_cell(chapter: str, public_tests: dict[str, str]) -> nbformat.NotebookNode:
    """The cell that writes the public tests to a temp folder and creates `grader`."""
    entries = "".join(
        f'    "{name}": {_literal(_strip_trailing_spaces(text))},\n'
        for name, text in public_tests.items()
    )
    source = SETUP_TEMPLATE.replace("__TESTS__", entries).replace("__CHAPTER__", chapter)
    cell = nbformat.v4.new_code_cell(source.rstrip("\n"))
    # Colab shows the #@title instead of the long cell; JupyterLab collapses it.
    cell.metadata = {
        "cellView": "form",
        "deletable": False,
        "editable": False,
        "jupyter": {"source_hidden": True},
        "tags": [SETUP_TAG],
    }
    return cell


def clean_solution_source(source: str) -> str:
    """Drop otter's solution markers and student-only prompt blocks from a solution cell."""
    kept: list[str] = []
    in_prompt = False
    for line in source.splitlines():
        if line.rstrip().endswith("# BEGIN PROMPT"):
            in_prompt = True
        elif line.rstrip().endswith("# END PROMPT"):
            in_prompt = False
        elif not in_prompt and not _MARKER_LINE.match(line):
            kept.append(_TRAILING_MARKER.sub("", line))
    return "\n".join(kept).rstrip()


def _finish(nb: nbformat.NotebookNode, chapter: str, public_tests: dict[str, str], rel: Path):
    """Post-process one notebook written by otter; `rel` is where it will be committed."""
    placeholders = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and c.source.strip() == SETUP_PLACEHOLDER
    ]
    if len(placeholders) != 1:
        raise ExerciseError(
            f"{chapter}: the source needs exactly one code cell containing only "
            f"'{SETUP_PLACEHOLDER}' (found {len(placeholders)})"
        )
    nb.cells[placeholders[0]] = setup_cell(chapter, public_tests)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb = sync_notebook(REPO_ROOT / rel, nb)
    # Sequential ids "0", "1", ... are what the repo's nbstripout hook (>= 0.7) writes, so the
    # hook leaves generated notebooks unchanged. This also replaces the colab module's ids.
    for number, cell in enumerate(nb.cells):
        cell.id = str(number)
    nbformat.validate(nb)
    return nb


def dumps(nb: nbformat.NotebookNode) -> str:
    """nbformat's fixed JSON layout plus the final newline that nbformat.write adds."""
    return nbformat.writes(nb) + "\n"


def render_chapter(chapter: str, root: Path = REPO_ROOT) -> dict[Path, str]:
    """The chapter's generated student and solution notebooks as text, by repo-relative path."""
    source = source_path(chapter, root)
    with tempfile.TemporaryDirectory(prefix=f"assign-{chapter}-") as tmp:
        out = run_otter_assign(source, Path(tmp))
        check_test_files(source, out.all_tests)
        public = _test_files(out.public_tests)
        student = nbformat.read(out.student_nb, as_version=4)
        solution = nbformat.read(out.autograder_nb, as_version=4)
    for cell in solution.cells:
        if "otter_assign_solution_cell" in cell.metadata.get("tags", []):
            cell.source = clean_solution_source(cell.source)
    rendered: dict[Path, str] = {}
    for nb, folder in ((student, STUDENT_DIR), (solution, SOLUTION_DIR)):
        rel = folder / f"{chapter}.ipynb"
        rendered[rel] = dumps(_finish(nb, chapter, public, rel))
    return rendered


def generate(chapters: list[str], root: Path = REPO_ROOT) -> list[Path]:
    """Write the generated notebooks under `root`; return the paths written."""
    written = []
    for chapter in chapters:
        for rel, text in render_chapter(chapter, root).items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
            written.append(path)
    return written


def check(chapters: list[str], root: Path = REPO_ROOT, max_diff_lines: int = 40) -> list[str]:
    """Problems (with diffs) where committed notebooks differ from freshly generated ones."""
    problems: list[str] = []
    expected_paths = set()
    for chapter in chapters:
        for rel, text in render_chapter(chapter, root).items():
            expected_paths.add(rel)
            path = root / rel
            if not path.is_file():
                problems.append(f"{rel} is missing")
                continue
            committed = path.read_text(encoding="utf-8")
            if committed != text:
                diff = list(
                    difflib.unified_diff(
                        committed.splitlines(),
                        text.splitlines(),
                        f"{rel} (committed)",
                        f"{rel} (generated)",
                        lineterm="",
                    )
                )
                shown = "\n".join(diff[:max_diff_lines])
                more = len(diff) - max_diff_lines
                problems.append(
                    f"{rel} differs from what its source generates:\n{shown}"
                    + (f"\n... ({more} more diff lines)" if more > 0 else "")
                )
    if set(chapters) == set(chapter_names(root)):  # orphans only make sense for a full check
        for folder in (STUDENT_DIR, SOLUTION_DIR):
            for path in sorted((root / folder).glob("*.ipynb")):
                rel = path.relative_to(root)
                if rel not in expected_paths:
                    problems.append(f"{rel} has no source notebook in {SOURCE_DIR}/")
    return problems


# --------------------------------------------------------------------------------------------
# Grading


def build_autograder(chapter: str, out_dir: Path, root: Path = REPO_ROOT) -> Path:
    """Build the otter autograder zip for `chapter` into `out_dir`; return its path."""
    source = source_path(chapter, root)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"assign-{chapter}-") as tmp:
        out = run_otter_assign(source, Path(tmp))
        check_test_files(source, out.all_tests)
        target = out_dir / f"{chapter}-autograder.zip"  # stable name (otter's has a timestamp)
        shutil.copyfile(out.zip_path, target)
    return target


@dataclass(frozen=True)
class Question:
    """One question of the autograder: its test cases (otter's), in the author's order."""

    name: str
    cases: tuple[Any, ...]
    all_or_nothing: bool = False

    @property
    def possible(self) -> float:
        return float(sum(case.points or 0 for case in self.cases))


def load_questions(chapter: str, root: Path = REPO_ROOT) -> list[Question]:
    """The chapter's questions with public and hidden test cases, built from its source.

    This list alone decides which questions exist and how many points each is worth.
    """
    from otter.nbmeta_config import NBMetadataConfig
    from otter.test_files import create_test_file

    source = source_path(chapter, root)
    questions = []
    with tempfile.TemporaryDirectory(prefix=f"assign-{chapter}-") as tmp:
        out = run_otter_assign(source, Path(tmp))
        check_test_files(source, out.all_tests)
        for path in sorted(out.all_tests.glob("*.py")):
            test = create_test_file(str(path), NBMetadataConfig())
            questions.append(Question(test.name, tuple(test.test_cases), bool(test.all_or_nothing)))
    return questions


def chapter_questions(chapter: str, root: Path = REPO_ROOT) -> list[str]:
    """Question names of a chapter, read from the BEGIN QUESTION cells of its source."""
    return sorted(_count_test_cells(source_path(chapter, root)))


def notebook_cells(path: Path) -> list[str]:
    """Code cells of a submitted notebook, in order (read here, executed only in the sandbox)."""
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise ExerciseError(f"the notebook is over {MAX_NOTEBOOK_BYTES // 2**20} MiB")
    nb = nbformat.read(path, as_version=4)
    return [str(cell.source) for cell in nb.cells if cell.cell_type == "code"]


def _run_case(case: Any, env: Any) -> tuple[bool, str]:
    """Run one test case in this process; (passed, reason). Hidden tests give no test text."""
    try:
        case.body.call_func(env)
    except NotImplementedError as error:
        return False, f"NotImplementedError: {sandbox_codec.one_line(error)}"
    except AnswerFailure as error:  # about the learner's own code: shown, one line
        return False, sandbox_codec.one_line(error, 500)
    except AssertionError as error:  # the check's message (public tests only)
        return False, "" if case.hidden else sandbox_codec.one_line(error, 500)
    except SubmissionError:
        raise
    except Exception as error:  # noqa: BLE001 - the test could not use what came back
        if case.hidden:
            return False, ""
        return False, f"{type(error).__name__}: {sandbox_codec.one_line(error)}"
    return True, ""


def grade_question(question: Question, env: Any, session: Any) -> dict[str, Any]:
    """Score one question against a submission's sandbox; feedback without hidden test text."""
    session.begin_question()
    lines, score = [], 0.0
    results = [(case, *_run_case(case, env)) for case in question.cases]
    for number, (case, passed, reason) in enumerate(results, start=1):
        kind = "hidden" if case.hidden else "public"
        if passed:
            score += case.points or 0
            lines.append(f"  {kind} test {number}: passed. {case.success_message or ''}".rstrip())
        else:
            lines.append(f"  {kind} test {number}: FAILED. {case.failure_message or ''}".rstrip())
            if reason:
                lines.append(f"      Why: {reason}")
    if question.all_or_nothing and not all(passed for _, passed, _ in results):
        score = 0.0
    if session.question_over:
        score = 0.0
        lines.append(
            f"  {question.name} scores 0: its calls took longer than its time limit of "
            f"{session.limits.question_seconds:g} s."
        )
    header = f"{question.name}: {_format_points(score)} / {_format_points(question.possible)}"
    return {
        "score": score,
        "possible": question.possible,
        "feedback": "\n".join([header, *lines]),
    }


def grade_submission(
    notebook: Path, questions: list[Question], limits: Limits, timeout: float
) -> dict[str, Any]:
    """Grade one notebook: its code runs in a sandbox, the tests run here."""
    started = time.monotonic()
    try:
        cells = notebook_cells(notebook)
    except Exception as error:  # noqa: BLE001 - not a notebook: a row with the reason
        return {"error": f"could not grade: {type(error).__name__}: {error}", "questions": {}}
    session = Session(cells, limits, deadline=started + timeout, timeout=timeout)
    try:
        session.start()
        env = RemoteEnv(session)
        results = {q.name: grade_question(q, env, session) for q in questions}
        return {"error": "", "questions": results, "notebook_errors": session.notebook_errors}
    except SubmissionError as error:
        return {"error": str(error), "questions": {}}
    except SandboxUnavailable as error:
        return {"error": f"could not start the grading sandbox: {error}", "questions": {}}
    finally:
        session.close()  # kills the sandbox and waits until every process of it is gone


def subprocess_env() -> dict[str, str]:
    """os.environ plus a PYTHONPATH under which child processes and kernels import this package.

    Needed when the parent found the package through sys.path tweaks (e.g. pytest's
    `pythonpath`) rather than an installation.
    """
    package_parent = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    return env


def _format_points(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


def require_sandbox() -> None:
    """Refuse to grade for credit where learner code cannot be jailed (ExerciseError)."""
    reason = unavailable_reason()
    if reason is not None:
        raise ExerciseError(
            f"refusing to grade for credit: no grading sandbox can be created here ({reason}). "
            f"{WAY_OUT}"
        )


def grade(
    chapter: str,
    submissions: Path,
    out_csv: Path,
    *,
    timeout: float = SUBMISSION_TIMEOUT,
    jobs: int = 1,
    root: Path = REPO_ROOT,
    limits: Limits | None = None,
) -> list[dict[str, str]]:
    """Grade every notebook in `submissions` into `out_csv`; return the CSV rows."""
    limits = limits or Limits()
    notebooks = sorted(submissions.glob("*.ipynb"))
    if not notebooks:
        raise ExerciseError(f"no .ipynb submissions in {submissions}")
    require_sandbox()
    questions = load_questions(chapter, root)
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(
            pool.map(lambda nb: grade_submission(nb, questions, limits, timeout), notebooks)
        )
    # Every sandbox was killed and reaped in grade_submission: nothing of a submission runs
    # while (or after) the feedback and the CSV are written.
    possible = _format_points(sum(q.possible for q in questions))
    feedback_dir = out_csv.parent / f"{out_csv.stem}-feedback"
    feedback_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for notebook, result in zip(notebooks, results, strict=True):
        row = {"submission": notebook.name}
        scores = {q.name: result["questions"].get(q.name, {}).get("score", 0) for q in questions}
        row.update({name: _format_points(value) for name, value in scores.items()})
        row["total"] = _format_points(sum(scores.values()))
        row["error"] = result["error"]
        rows.append(row)
        text = [f"{notebook.name}: {row['total']} / {possible}"]
        if result["error"]:
            text.append(f"ERROR: {result['error']}")
        if result.get("notebook_errors"):
            text.append(
                "Errors while running the notebook:\n"
                + "\n".join(f"  {line}" for line in result["notebook_errors"])
            )
        text += [
            result["questions"][q.name]["feedback"]
            for q in questions
            if q.name in result["questions"]
        ]
        (feedback_dir / f"{notebook.stem}.txt").write_text("\n\n".join(text) + "\n", "utf-8")
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with out_csv.open("w", newline="", encoding="utf-8") as f:
        names = [q.name for q in questions]
        writer = csv.DictWriter(f, fieldnames=["submission", *names, "total", "error"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


# --------------------------------------------------------------------------------------------
# Command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.exercises", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root")
    commands = parser.add_subparsers(dest="command", required=True)

    for name, text in (
        ("generate", "write exercises/NN.ipynb and solutions/NN.ipynb from exercises/source/"),
        ("check", "exit 1 with a diff if the committed notebooks are not what generate writes"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument(
            "--chapter", action="append", help="chapter name, e.g. 01_attention (default: all)"
        )

    sub = commands.add_parser("grade", help="grade a folder of submitted notebooks into a CSV")
    sub.add_argument("--chapter", required=True, help="e.g. 01_attention")
    sub.add_argument("submissions", type=Path, help="folder of submitted .ipynb files")
    sub.add_argument("--out", type=Path, required=True, help="CSV to write")
    _limit_arguments(sub)
    sub.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel")

    sub = commands.add_parser("build-autograder", help="write the otter autograder zip")
    sub.add_argument("--chapter", required=True)
    sub.add_argument("--out", type=Path, required=True, help="folder for the zip")

    sub = commands.add_parser(
        "grade-one", help="grade one submission in a sandbox and write its result as JSON"
    )
    sub.add_argument("submission", type=Path)
    sub.add_argument("--chapter", required=True)
    sub.add_argument("--result", type=Path, required=True, help="JSON file to write")
    _limit_arguments(sub)
    return parser


def _limit_arguments(sub: argparse.ArgumentParser) -> None:
    defaults = Limits()
    sub.add_argument(
        "--timeout",
        type=float,
        default=SUBMISSION_TIMEOUT,
        help=f"seconds allowed per submission (default {SUBMISSION_TIMEOUT}); must be above "
        "--notebook-timeout plus the sum of the question limits",
    )
    sub.add_argument(
        "--call-timeout",
        type=float,
        default=defaults.call_seconds,
        help="seconds one call of a learner's function may take "
        f"(default {defaults.call_seconds:g})",
    )
    sub.add_argument(
        "--question-timeout",
        type=float,
        default=defaults.question_seconds,
        help="seconds all calls of one question may take together; over it, the question "
        f"scores 0 (default {defaults.question_seconds:g})",
    )
    sub.add_argument(
        "--notebook-timeout",
        type=float,
        default=defaults.notebook_seconds,
        help="seconds the notebook's own cells may take to run "
        f"(default {defaults.notebook_seconds:g})",
    )


def _limits(args: argparse.Namespace, questions: int) -> Limits:
    limits = Limits(
        call_seconds=args.call_timeout,
        question_seconds=args.question_timeout,
        notebook_seconds=args.notebook_timeout,
    )
    needed = limits.notebook_seconds + questions * limits.question_seconds
    if args.timeout <= needed:
        raise ExerciseError(
            f"--timeout {args.timeout:g} must be above --notebook-timeout plus {questions} "
            f"question limits ({needed:g} s), so that a slow question costs only itself"
        )
    return limits


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    root: Path = args.root.resolve()
    if args.command in ("generate", "check"):
        chapters = args.chapter or chapter_names(root)
        if args.command == "generate":
            for path in generate(chapters, root):
                print(f"wrote {path.relative_to(root)}")
            return 0
        problems = check(chapters, root)
        if problems:
            print("\n\n".join(problems))
            print(
                "\nThe generated exercise notebooks are out of date. Run `make exercises` "
                "(python -m course_utils.exercises generate) and commit the result."
            )
            return 1
        print(f"exercise notebooks up to date for: {', '.join(chapters)}")
        return 0
    try:
        return _grading_command(args, root)
    except ExerciseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _grading_command(args: argparse.Namespace, root: Path) -> int:
    if args.command == "build-autograder":
        print(build_autograder(args.chapter, args.out, root))
        return 0
    questions = len(chapter_questions(args.chapter, root))
    limits = _limits(args, questions)
    if args.command == "grade-one":
        require_sandbox()
        result = grade_submission(
            args.submission, load_questions(args.chapter, root), limits, args.timeout
        )
        args.result.write_text(json.dumps(result, indent=1), encoding="utf-8")
        return 0
    started = time.monotonic()
    rows = grade(
        args.chapter,
        args.submissions,
        args.out,
        timeout=args.timeout,
        jobs=args.jobs,
        root=root,
        limits=limits,
    )
    seconds = time.monotonic() - started
    print(f"graded {len(rows)} submissions into {args.out}")
    print(
        f"time: {seconds:.1f} s in all, {seconds / len(rows):.2f} s per submission "
        f"(--jobs {args.jobs}, including the one-off build of the tests)"
    )
    failed = [r["submission"] for r in rows if r["error"]]
    if failed:
        print(f"could not grade (scored 0, see the error column): {', '.join(failed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
