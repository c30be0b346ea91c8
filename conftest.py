"""nbval support: expected outputs of tagged cells, and the executed notebooks of the run.

1. Notebooks are stored stripped: tagged cells get their expected outputs from tests/snapshots.
2. One execution per notebook per CI run: while nbval runs a notebook cell by cell, this file keeps
   each cell's outputs and time. At the end of the session every notebook whose cells all passed
   is written WITH its outputs to `_build/executed/<folder>/<name>.ipynb` (env
   COURSE_EXECUTED_DIR overrides the folder), and `times.json` there records per notebook its
   seconds, per-cell seconds, budget, status and the sha256 of the source it ran. The book build
   (`scripts/build_book.py --executed _build/executed`) and the notebook timing report
   (`scripts/benchmark_notebooks.py --from-run _build/executed`) read these instead of executing
   every notebook again; the sha256 lets them refuse a copy that no longer matches its source.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

from course_utils import snapshots

ROOT = Path(__file__).resolve().parent
TIMES_FILE = "times.json"


def executed_dir() -> Path:
    """Where the executed notebooks of an nbval run go (env COURSE_EXECUTED_DIR overrides)."""
    return Path(os.environ.get("COURSE_EXECUTED_DIR") or ROOT / "_build" / "executed")


def source_sha256(path: Path) -> str:
    """The sha256 of a notebook file as stored: ties an executed copy to the source it ran."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class _Run:
    """What nbval did to one notebook in this session."""

    def __init__(self, path: Path, n_cells: int) -> None:
        self.path = path
        self.sha256 = source_sha256(path)
        self.n_cells = n_cells
        self.outputs: dict[int, list] = {}
        self.cell_seconds: dict[int, float] = {}
        self.failed = False
        self.seconds = 0.0  # setup (kernel start) + every cell + teardown


_RUNS: dict[Path, _Run] = {}


def _notebook_of(item: pytest.Item) -> Path | None:
    return Path(str(item.fspath)).resolve() if getattr(item, "cell", None) is not None else None


def pytest_configure(config: pytest.Config) -> None:
    # Kernels inherit the environment: MPLBACKEND=Agg would drop every figure from the executed
    # copies the book shows; without it the kernel uses Jupyter's inline backend, as the book did.
    os.environ.pop("MPLBACKEND", None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    cache: dict[Path, dict] = {}
    counts: dict[Path, int] = {}
    for item in items:
        path = _notebook_of(item)
        if path is None:
            continue
        counts[path] = counts.get(path, 0) + 1
        cell = item.cell
        if snapshots.CHECK_TAG not in cell.metadata.get("tags", []):
            continue
        expected = cache.setdefault(path, snapshots.load(path))
        if cell.id not in expected:
            _fail_after_running(item, f"no expected output stored for tagged cell {cell.id}")
            continue
        cell.outputs = [nbformat.from_dict(o) for o in expected[cell.id]]
        cell.execution_count = 1
        # snapshots keep text/plain only; a display(df) table's HTML renders the same data
        parent = item.parent
        if "text/html" not in parent.skip_compare:
            parent.skip_compare = (*parent.skip_compare, "text/html")
    for path, n in counts.items():
        _RUNS[path] = _Run(path, n)


def _fail_after_running(item: pytest.Item, why: str) -> None:
    """Run the cell (later cells need its state), then fail with the fix."""
    run = item.runtest
    fix = f"python -m course_utils.snapshots update {Path(str(item.fspath)).name}"

    def runtest() -> None:
        run()
        pytest.fail(f"{why}: run `{fix}` from its folder and review the diff", pytrace=False)

    item.runtest = runtest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    outcome = yield
    path = _notebook_of(item)
    if path is None or path not in _RUNS:
        return
    run, report = _RUNS[path], outcome.get_result()
    run.seconds += call.duration
    if report.failed:
        run.failed = True
    if call.when == "call":
        run.outputs[item.cell_num] = list(getattr(item, "test_outputs", None) or [])
        run.cell_seconds[item.cell_num] = call.duration


def _output(out: dict, count: int) -> nbformat.NotebookNode:
    """An nbval output (a raw iopub message body) as a valid nbformat output."""
    kind = out["output_type"]
    if kind == "stream":
        return nbformat.v4.new_output("stream", name=out["name"], text=out["text"])
    if kind == "error":
        return nbformat.v4.new_output(
            "error", ename=out["ename"], evalue=out["evalue"], traceback=out["traceback"]
        )
    extra = {"execution_count": count} if kind == "execute_result" else {}
    return nbformat.v4.new_output(
        kind, data=dict(out.get("data", {})), metadata=dict(out.get("metadata", {})), **extra
    )


def _quiet(source: str) -> bool:
    """Whether Jupyter hides the cell's value: its code ends with ';'.

    nbval executes without storing history, and IPython looks for the ';' in the history, so
    nbval's run shows values (`<Axes ...>`) that Jupyter and the book would hide.
    """
    lines = [ln.split("#")[0].rstrip() for ln in source.strip().splitlines()]
    code = [ln for ln in lines if ln]
    return bool(code) and code[-1].endswith(";")


def write_executed(run: _Run, out_dir: Path) -> Path:
    """The notebook as it is stored, with the outputs nbval collected, under `out_dir`."""
    nb = nbformat.read(run.path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    for i, cell in enumerate(code):
        cell.execution_count = i + 1
        outs = run.outputs.get(i, [])
        if _quiet(cell.source):
            outs = [o for o in outs if o["output_type"] != "execute_result"]
        cell.outputs = [_output(o, i + 1) for o in outs]
    nb.metadata["course_executed"] = {"by": "nbval", "budget": os.environ.get("COURSE_BUDGET")}
    nbformat.validate(nb)
    target = out_dir / run.path.relative_to(ROOT)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return target


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not _RUNS:
        return
    out_dir = executed_dir()
    times_file = out_dir / TIMES_FILE
    try:
        times = json.loads(times_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        times = {}
    for run in _RUNS.values():
        rel = run.path.relative_to(ROOT).as_posix()
        complete = len(run.outputs) == run.n_cells
        status = "failed" if run.failed else ("passed" if complete else "incomplete")
        target = out_dir / rel
        if status == "passed":
            write_executed(run, out_dir)
        elif target.exists():
            target.unlink()  # never leave an older copy that looks current
        times[rel] = {
            "seconds": round(run.seconds, 1),
            "status": status,
            "budget": os.environ.get("COURSE_BUDGET", "(auto)"),
            "sha256": run.sha256,
            "cell_seconds": [round(run.cell_seconds.get(i, 0.0), 2) for i in range(run.n_cells)],
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
    out_dir.mkdir(parents=True, exist_ok=True)
    times_file.write_text(json.dumps(times, indent=2, sort_keys=True) + "\n", encoding="utf-8")
