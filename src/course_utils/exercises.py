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
    Builds the otter autograder zip (public + hidden tests) from the source into a temporary
    directory and grades every ``*.ipynb`` in SUBMISSIONS_DIR without Docker: one ``grade-one``
    subprocess per submission (``otter.api.grade_submission``, what ``otter run`` does), with a
    whole-submission timeout as a backstop for code that hangs outside the graded functions.
    Writes one CSV row per submission (points per question, total, and an error column for
    submissions that could not be graded at all) and, beside the CSV, a ``<csv stem>-feedback/``
    folder with every submission's per-test feedback.

Where Docker exists, otter's containerised grader can use the same zip::

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
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from course_utils.colab import sync_notebook

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIR = Path("exercises") / "source"
STUDENT_DIR = Path("exercises")
SOLUTION_DIR = Path("solutions")
SETUP_PLACEHOLDER = "# GRADER SETUP"
SETUP_TAG = "grader-setup"
#: Default whole-submission time limit (seconds) for `grade`; per-call limits live in grading.py.
SUBMISSION_TIMEOUT = 600

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


def check_test_files(source: Path, all_tests: Path) -> None:
    """Fail if a built test file has fewer test cases than the source has test cells.

    Otter collects test functions from the module namespace, so two test functions with the same
    name in one question would silently leave only one.
    """
    from otter.nbmeta_config import NBMetadataConfig
    from otter.test_files import create_test_file

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


def grade_one(submission: Path, autograder: Path) -> dict[str, Any]:
    """Grade one notebook in this process; return per-question scores and feedback."""
    import otter.api

    results = otter.api.grade_submission(str(submission), str(autograder), quiet=True)
    if results.catastrophic_error is not None:
        return {"error": f"otter could not grade it: {results.catastrophic_error}", "questions": {}}
    return {
        "error": "",
        "questions": {
            name: {
                "score": test.score,
                "possible": test.possible,
                "feedback": test.summary(),
            }
            for name, test in sorted(results.results.items())
        },
    }


def subprocess_env() -> dict[str, str]:
    """os.environ plus a PYTHONPATH under which child processes and kernels import this package.

    Needed when the parent found the package through sys.path tweaks (e.g. pytest's
    `pythonpath`) rather than an installation: the graded tests import course_utils.grading.
    """
    package_parent = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    return env


def _grade_in_subprocess(submission: Path, autograder: Path, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="grade-one-") as tmp:
        result_path = Path(tmp) / "result.json"
        command = [
            sys.executable,
            "-m",
            "course_utils.exercises",
            "grade-one",
            str(submission),
            "--autograder",
            str(autograder),
            "--result",
            str(result_path),
        ]
        # A new session, so that on timeout the worker and everything it started can be killed.
        process = subprocess.Popen(
            command,
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.communicate()
            return {
                "error": f"grading did not finish within {timeout:g} s (endless loop outside the "
                "graded functions?)",
                "questions": {},
            }
        if process.returncode != 0 or not result_path.is_file():
            last = (output.strip().splitlines() or ["no output"])[-1]
            return {
                "error": f"grading crashed (exit {process.returncode}): {last}",
                "questions": {},
            }
        return json.loads(result_path.read_text(encoding="utf-8"))


def _format_points(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


def grade(
    chapter: str,
    submissions: Path,
    out_csv: Path,
    *,
    timeout: float = SUBMISSION_TIMEOUT,
    jobs: int = 1,
    root: Path = REPO_ROOT,
) -> list[dict[str, str]]:
    """Grade every notebook in `submissions` into `out_csv`; return the CSV rows."""
    notebooks = sorted(submissions.glob("*.ipynb"))
    if not notebooks:
        raise ExerciseError(f"no .ipynb submissions in {submissions}")
    with tempfile.TemporaryDirectory(prefix=f"autograder-{chapter}-") as tmp:
        autograder = build_autograder(chapter, Path(tmp), root)
        questions, possible = _questions(autograder)
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(
                pool.map(lambda nb: _grade_in_subprocess(nb, autograder, timeout), notebooks)
            )
    feedback_dir = out_csv.parent / f"{out_csv.stem}-feedback"
    feedback_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for notebook, result in zip(notebooks, results, strict=True):
        row = {"submission": notebook.name}
        for question in questions:
            row[question] = _format_points(result["questions"].get(question, {}).get("score", 0))
        total = sum(q.get("score", 0) for q in result["questions"].values())
        row["total"] = _format_points(total)
        row["error"] = result["error"]
        rows.append(row)
        text = [f"{notebook.name}: {row['total']} / {_format_points(sum(possible.values()))}"]
        if result["error"]:
            text.append(f"ERROR: {result['error']}")
        text += [q["feedback"] for q in result["questions"].values()]
        (feedback_dir / f"{notebook.stem}.txt").write_text("\n\n".join(text) + "\n", "utf-8")
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with out_csv.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["submission", *questions, "total", "error"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


def _questions(autograder: Path) -> tuple[list[str], dict[str, float]]:
    """Question names and points possible, read from the test files inside the zip."""
    import zipfile

    from otter.nbmeta_config import NBMetadataConfig
    from otter.test_files import create_test_file

    possible: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(autograder) as zf:
        names = sorted(n for n in zf.namelist() if re.fullmatch(r"tests/[^/]+\.py", n))
        for name in names:
            path = zf.extract(name, tmp)
            test = create_test_file(path, NBMetadataConfig())
            possible[test.name] = test.possible
    return sorted(possible), possible


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
    sub.add_argument(
        "--timeout",
        type=float,
        default=SUBMISSION_TIMEOUT,
        help=f"seconds allowed per submission (default {SUBMISSION_TIMEOUT})",
    )
    sub.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel")

    sub = commands.add_parser("build-autograder", help="write the otter autograder zip")
    sub.add_argument("--chapter", required=True)
    sub.add_argument("--out", type=Path, required=True, help="folder for the zip")

    sub = commands.add_parser("grade-one", help="grade one submission (what `grade` runs)")
    sub.add_argument("submission", type=Path)
    sub.add_argument("--autograder", type=Path, required=True)
    sub.add_argument("--result", type=Path, required=True, help="JSON file to write")
    return parser


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
    if args.command == "grade":
        rows = grade(
            args.chapter,
            args.submissions,
            args.out,
            timeout=args.timeout,
            jobs=args.jobs,
            root=root,
        )
        print(f"graded {len(rows)} submissions into {args.out}")
        failed = [r["submission"] for r in rows if r["error"]]
        if failed:
            print(f"could not grade (scored 0, see the error column): {', '.join(failed)}")
        return 0
    if args.command == "build-autograder":
        print(build_autograder(args.chapter, args.out, root))
        return 0
    # grade-one: a submission otter cannot read or run (not JSON, another assignment's notebook)
    # is reported in the CSV's error column rather than as a traceback.
    try:
        result = grade_one(args.submission, args.autograder)
    except Exception as error:
        result = {"error": f"could not grade: {type(error).__name__}: {error}", "questions": {}}
    args.result.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
