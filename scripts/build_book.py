"""Build the book's site content.

Online (GitHub Pages):   python scripts/build_book.py --html
Offline (CI here):       python scripts/build_book.py --offline

The book theme is downloaded on first build, so offline we build the *content* (parse, execute,
cross-reference, strict warnings) with the minimal local template in book/_offline_template. The
real book/myst.yml is never edited: the offline build runs on a copy with only the template swapped.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Folders the table of contents reaches into (paths in book/myst.yml are relative to book/).
CONTENT = ("book", "notebooks", "exercises", "solutions")


# mystmd marks problems with these symbols; `--strict` alone misses some (e.g. a missing TOC file).
PROBLEM_MARKS = ("⛔", "⚠", "❌")


def run_myst(args: list[str], cwd: Path) -> int:
    """Run a build, echo its log, and fail on any error or warning line, whatever the exit code."""
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    print(log, end="")
    problems = [line for line in log.splitlines() if any(m in line for m in PROBLEM_MARKS)]
    if problems:
        print(f"\nbook build: {len(problems)} error/warning line(s); the book must build cleanly:")
        print("\n".join(f"  {line.strip()}" for line in problems))
        return proc.returncode or 1
    return proc.returncode


def build(offline: bool, html: bool, execute: bool) -> int:
    args = ["jupyter", "book", "build", "--html" if html else "--site", "--strict", "--ci"]
    if execute:
        args.append("--execute")
    if not offline:
        return run_myst(args, ROOT / "book")
    with tempfile.TemporaryDirectory(prefix="book-offline-") as tmp:
        for name in CONTENT:
            ignore = shutil.ignore_patterns("_build", ".ipynb_checkpoints", "__pycache__")
            shutil.copytree(ROOT / name, Path(tmp) / name, ignore=ignore)
        myst = Path(tmp) / "book" / "myst.yml"
        text = myst.read_text()
        if "template: book-theme" not in text:
            sys.exit("book/myst.yml no longer says 'template: book-theme'; update build_book.py")
        myst.write_text(text.replace("template: book-theme", "template: ./_offline_template"))
        code = run_myst(args, Path(tmp) / "book")
        out = ROOT / "book" / "_build" / "offline-site"
        if (Path(tmp) / "book" / "_build" / "site").exists():
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(Path(tmp) / "book" / "_build" / "site", out)
            print(f"site content written to {out.relative_to(ROOT)}")
        return code


def main() -> int:
    parser = argparse.ArgumentParser(description="Build the course book.")
    parser.add_argument("--offline", action="store_true", help="content build, local template")
    parser.add_argument("--html", action="store_true", help="static HTML (needs the theme: online)")
    parser.add_argument("--no-execute", action="store_true", help="do not execute notebooks")
    args = parser.parse_args()
    if args.offline and args.html:
        parser.error("--html needs the downloaded theme; it cannot run with --offline")
    return build(args.offline, args.html, not args.no_execute)


if __name__ == "__main__":
    sys.exit(main())
