"""Committed experiment results: read them back, and record the commit that made them.

The chapters' experiments (ELECTRA, ALBERT, fine-tuning families, checkpoint quality) write JSON
files under results/ that the notebooks read. `load_results` reads one from the repository clone
or, in an installed package without a clone (Colab), from GitHub at the ref the course pins
(config.GITHUB_REF); `git_commit` is what the experiments store to say which code produced them.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

from course_utils.errors import CourseError

#: The repository root of a clone (src/course_utils/results.py -> the folder above src/).
REPO_ROOT = Path(__file__).resolve().parents[2]


def git_commit(short: bool = False, cwd: str | Path | None = None) -> str | None:
    """HEAD's hash (abbreviated with `short`) of the repository around `cwd` (default: this
    package's folder); None outside a git repository or without git."""
    args = ["git", "rev-parse", *(["--short"] if short else []), "HEAD"]
    try:
        out = subprocess.run(
            args,
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent if cwd is None else cwd,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def load_results(
    relative_path: str, rerun_command: str, path: str | Path | None = None, verbose: bool = True
) -> dict[str, Any]:
    """The committed results: `path`, else `relative_path` in the repository clone, else the same
    file from GitHub at config.GITHUB_REF. Prints which one it read.

    A missing explicit `path` is an error (no fallback: the caller asked for that file); when
    GitHub does not answer either, the CourseError names `rerun_command`, which remakes the file.
    """
    # Looked up at call time, so a test (or a fork) can point config at another repository/ref.
    from course_utils.config import GITHUB_REF, GITHUB_REPO

    file = Path(path) if path is not None else REPO_ROOT / relative_path
    if file.is_file():
        if verbose:
            print(f"results: {relative_path if path is None else file.name} (committed file)")
        return json.loads(file.read_text(encoding="utf-8"))
    if path is not None:
        raise CourseError(f"No results file at {file}.", fix="check the path")
    url = f"https://raw.githubusercontent.com/{GITHUB_REPO}/{GITHUB_REF}/{relative_path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            results = json.loads(response.read().decode("utf-8"))
    except Exception as err:  # offline, proxy, 404: all mean "not available"
        raise CourseError(
            f"No {relative_path} in this installation and GitHub did not answer ({err}).",
            fix=f"clone the repository (the file is committed there), or rerun: {rerun_command}",
        ) from None
    if verbose:
        print(f"results: {relative_path} read from GitHub ({GITHUB_REPO}@{GITHUB_REF})")
    return results
