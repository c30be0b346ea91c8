"""Notebook wall-clock times: from the last `make pytest` run, or by executing them here.

    python scripts/benchmark_notebooks.py --from-run _build/executed   # CI: no second execution
    python scripts/benchmark_notebooks.py                 # execute; budget from the environment
    COURSE_BUDGET=cpu python scripts/benchmark_notebooks.py notebooks/01_attention.ipynb

In CI each notebook is executed once, by nbval in `make pytest`; conftest.py records each
notebook's time (kernel start, every cell, shutdown) in `_build/executed/times.json`, and
`--from-run` prints that table, flagging entries whose notebook changed since. Without it the
notebooks are executed here (for another budget, or one notebook), 600 s per cell at most.

Targets (checked by reading the table, not by a timed test): each chapter under 3 minutes on the
ci budget and under 15 minutes on the cpu budget (chapters that pretrain load the course
checkpoints there unless told to retrain).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
CELL_TIMEOUT = 600  # seconds per cell


def run(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    return time.perf_counter() - start


def _row(name: str, budget: str, seconds: float, note: str = "") -> str:
    return f"{name:<40} {budget:>7} {seconds:>8.1f}  {note}".rstrip()


def from_run(folder: Path) -> int:
    """Print the times that nbval recorded; 1 if there are none or one notebook failed."""
    times_file = folder / "times.json"
    if not times_file.is_file():
        print(f"no {times_file}: run `make pytest` first")
        return 1
    times = json.loads(times_file.read_text(encoding="utf-8"))
    print(f"notebook times from the nbval run ({times_file})")
    print(f"{'notebook':<40} {'budget':>7} {'seconds':>8}")
    total, bad = 0.0, 0
    for rel, entry in sorted(times.items()):
        source = ROOT / rel
        note = "" if entry["status"] == "passed" else entry["status"].upper()
        if not source.is_file():
            note = "notebook no longer exists"
        elif hashlib.sha256(source.read_bytes()).hexdigest() != entry["sha256"]:
            note = "(notebook changed since)"
        bad += entry["status"] != "passed"
        total += entry["seconds"]
        print(_row(rel, entry["budget"], entry["seconds"], note))
    print(_row("total", "", total))
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks, solutions")
    parser.add_argument("--from-run", type=Path, default=None, help="folder of an nbval run")
    args = parser.parse_args(argv)
    if args.from_run is not None:
        return from_run(args.from_run)
    paths = [p.resolve() for p in args.notebooks] or sorted(
        p for d in ("notebooks", "solutions") for p in (ROOT / d).glob("*.ipynb")
    )
    budget = os.environ.get("COURSE_BUDGET", "(auto)")
    print(f"{'notebook':<40} {'budget':>7} {'seconds':>8}")
    total = 0.0
    for path in paths:
        seconds = run(path)
        total += seconds
        print(_row(path.relative_to(ROOT).as_posix(), budget, seconds), flush=True)
    print(_row("total", "", total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
