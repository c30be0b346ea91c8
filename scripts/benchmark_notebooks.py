"""Execute every course notebook and print its wall-clock time (a benchmark, not a test).

    python scripts/benchmark_notebooks.py                 # budget from the environment (make: ci)
    COURSE_BUDGET=cpu python scripts/benchmark_notebooks.py notebooks/01_attention.ipynb

Targets (checked by reading the table, not by a timed test): each chapter under 3 minutes on the
ci budget and under 15 minutes on the cpu budget (chapters that pretrain load the course
checkpoints there unless told to retrain).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def run(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(
        nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    paths = [Path(p).resolve() for p in argv] or sorted(
        p for d in ("notebooks", "solutions") for p in (ROOT / d).glob("*.ipynb")
    )
    budget = os.environ.get("COURSE_BUDGET", "(auto)")
    print(f"{'notebook':<40} {'budget':>7} {'seconds':>8}")
    total = 0.0
    for path in paths:
        seconds = run(path)
        total += seconds
        print(f"{path.relative_to(ROOT).as_posix():<40} {budget:>7} {seconds:>8.1f}", flush=True)
    print(f"{'total':<40} {'':>7} {total:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
