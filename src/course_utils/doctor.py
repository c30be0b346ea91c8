"""`doctor()`: check Python, packages, device, budget, Hub and data; every problem comes with a fix.

Run it in a notebook cell or as `python -m course_utils.doctor` (exit code 1 on problems).
"""

from __future__ import annotations

import importlib.metadata
import platform
import sys
from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion

from course_utils.config import DATASETS, DEV_PINS, HUB_MODELS, PINS, PYTHON_REQUIRES
from course_utils.errors import CourseError

LOW_GPU_MEMORY_GIB = 1.0
_FLAG = "  <- PROBLEM"
_OFFLINE_FIX = (
    "connect to the internet, or work offline: set HF_HUB_OFFLINE=1, HF_HUB_CACHE (models) and "
    "COURSE_DATA_DIR (data), e.g. to ../shared/hf-hub and ../shared/data"
)


@dataclass
class Problem:
    """Something wrong with the setup, and how to fix it."""

    what: str
    fix: str


class _Report:
    """Collects report lines and problems."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.problems: list[Problem] = []

    def add(self, topic: str, text: str, problem: Problem | None = None) -> None:
        self.lines.append(f"{topic:<10} {text}{_FLAG if problem else ''}")
        if problem:
            self.problems.append(problem)

    def error(self, topic: str, err: CourseError) -> None:
        self.add(topic, err.message, Problem(err.message, err.fix or ""))


def _in_range(version: str, spec: str) -> bool:
    try:
        return SpecifierSet(spec).contains(version, prereleases=True)
    except InvalidVersion:
        return False


def _check_python(report: _Report) -> None:
    version = platform.python_version()
    problem = None
    if not _in_range(version, PYTHON_REQUIRES):
        problem = Problem(
            f"Python {version} does not satisfy {PYTHON_REQUIRES}", "use Python 3.11+"
        )
    report.add("Python", f"{version} (needs {PYTHON_REQUIRES})", problem)


def _check_packages(report: _Report, pins: dict[str, str], optional: bool) -> None:
    tag = " (optional)" if optional else ""
    for package, spec in pins.items():
        fix = f'pip install "{package}{spec}"'
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            # dev tools are for maintainers: a learner without them is fine
            missing = None if optional else Problem(f"{package} is not installed", fix)
            report.add("", f"{package:<16} not installed{tag}", missing)
            continue
        problem = None
        if not _in_range(version, spec):
            problem = Problem(f"{package} {version} is outside the tested range {spec}", fix)
        report.add("", f"{package:<16} {version:<14} {spec}{tag}", problem)


def _check_device_and_budget(report: _Report) -> None:
    try:  # torch itself may be what is broken: report it rather than crash
        from course_utils.budget import get_budget
        from course_utils.device import describe_device, free_gpu_memory_gib, get_device
    except ImportError as err:
        fix = f'pip install "torch{PINS["torch"]}"'
        report.add("device", f"unknown ({err})", Problem(f"cannot import torch: {err}", fix))
        return
    try:
        device = get_device()
        free = free_gpu_memory_gib(device)
        problem = None
        if free is not None and free < LOW_GPU_MEMORY_GIB:
            problem = Problem(f"only {free:.1f} GiB of GPU memory is free", "restart the kernel")
        report.add("device", describe_device(device), problem)
    except CourseError as err:
        report.error("device", err)
    try:
        report.add("budget", get_budget().name)
    except CourseError as err:
        report.error("budget", err)


def _check_hub_and_data(report: _Report) -> None:
    try:
        from course_utils.data import data_dir
        from course_utils.hub import cached_snapshot, hub_cache_dir, hub_reachable, offline_mode
    except ImportError as err:
        fix = f'pip install "huggingface-hub{PINS["huggingface-hub"]}"'
        report.add("Hub", f"unknown ({err})", Problem(f"cannot import huggingface_hub: {err}", fix))
        return
    online = not offline_mode() and hub_reachable()
    if offline_mode():
        report.add("Hub", "offline mode (HF_HUB_OFFLINE=1)")
    elif online:
        report.add("Hub", "reachable")
    else:
        report.add(
            "Hub", "unreachable", Problem("the Hugging Face Hub is not reachable", _OFFLINE_FIX)
        )
    cache = hub_cache_dir()
    cached = [name for name, model in HUB_MODELS.items() if cached_snapshot(model, cache)]
    found = ", ".join(cached) or "no course models"
    report.add("HF cache", f"{cache}: {found} ({len(cached)}/{len(HUB_MODELS)})")

    try:
        root = data_dir()
    except CourseError as err:
        report.error("data", err)
        return
    if root is None:
        problem = None
        if not online:
            what = "datasets cannot be loaded: no Hub and COURSE_DATA_DIR is not set"
            problem = Problem(what, "set COURSE_DATA_DIR=../shared/data")
        report.add("data", "COURSE_DATA_DIR not set: datasets come from the Hub", problem)
        return
    folders = [spec.offline_dir for spec in DATASETS.values()]
    present = [folder for folder in folders if (root / folder).is_dir()]
    missing = [folder for folder in folders if folder not in present]
    problem = None
    if missing:
        what = f"COURSE_DATA_DIR={root} lacks {', '.join(missing)}"
        problem = Problem(what, "point COURSE_DATA_DIR at ../shared/data")
    report.add("data", f"COURSE_DATA_DIR={root}: {', '.join(present) or 'no course data'}", problem)


def doctor(print_report: bool = True) -> list[Problem]:
    """Check the setup against the course's pins; print a compact report; return the problems."""
    report = _Report()
    _check_python(report)
    report.add("packages", f"{'':16} {'installed':<14} required")
    _check_packages(report, PINS, optional=False)
    _check_packages(report, DEV_PINS, optional=True)
    _check_device_and_budget(report)
    _check_hub_and_data(report)
    if print_report:
        print("\n".join(report.lines))
        if not report.problems:
            print("All good.")
        else:
            print(f"{len(report.problems)} problem(s):")
            for problem in report.problems:
                print(f"  - {problem.what}\n    Fix: {problem.fix}")
    return report.problems


def main() -> int:
    """Entry point of `python -m course_utils.doctor`: exit code 1 when problems were found."""
    return 1 if doctor() else 0


if __name__ == "__main__":
    sys.exit(main())
