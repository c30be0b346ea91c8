"""Build the book: execute the chapters, then let Jupyter Book 2 (MyST) build the site.

Online (GitHub Pages):   python scripts/build_book.py --html      -> book/_build/html
Offline (CI here):       python scripts/build_book.py --offline   -> book/_build/offline-site

Notebooks are stored without outputs. The build copies book/ and the notebook folders into a
temporary directory, executes every notebook there with nbclient (the same kernel the tests
use; mystmd's own --execute needs a Jupyter server rooted above book/), and builds from the copy.
Offline, the theme cannot be downloaded, so the copy's myst.yml points at the minimal local
template in book/_offline_template: that still parses, cross-references and checks every page.
Any error or warning line fails the build, as the book must build cleanly.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
CONTENT = ("book", "notebooks", "exercises", "solutions")  # folders the TOC reaches into
EXECUTED = ("notebooks",)  # folders whose notebooks are pages that show outputs
# mystmd marks problems with these symbols; `--strict` alone misses some (e.g. a missing TOC file).
PROBLEM_MARKS = ("⛔", "⚠", "❌")


def execute_notebooks(tree: Path) -> None:
    """Execute every page notebook in place, printing the time each took."""
    env_backend = os.environ.pop("MPLBACKEND", None)  # Agg would drop every figure from the site
    try:
        for folder in EXECUTED:
            for path in sorted((tree / folder).glob("*.ipynb")):
                nb = nbformat.read(path, as_version=4)
                start = time.perf_counter()
                client = NotebookClient(
                    nb,
                    timeout=1800,
                    kernel_name="python3",
                    resources={"metadata": {"path": str(path.parent)}},
                )
                client.execute()
                nbformat.write(nb, path)
                print(
                    f"executed {folder}/{path.name} in {time.perf_counter() - start:.1f} s",
                    flush=True,
                )
    finally:
        if env_backend is not None:
            os.environ["MPLBACKEND"] = env_backend


def unique_cell_ids(tree: Path) -> None:
    """Cell ids become page identifiers, which must be unique across the whole book."""
    for path in tree.rglob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            cell.id = f"{path.stem}-{cell.id}"
        nbformat.write(nb, path)


def unlink_badge_images(tree: Path) -> None:
    """Offline, mystmd cannot fetch the remote badge image: keep the Colab link as plain text."""
    for path in tree.rglob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if "colab-badge" in cell.metadata.get("tags", []):
                url = cell.source.rsplit("(", 1)[1].rstrip(")")
                cell.source = f"[Open in Colab]({url})"
        nbformat.write(nb, path)


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


def build(offline: bool, execute: bool) -> int:
    fmt = "--site" if offline else "--html"
    with tempfile.TemporaryDirectory(prefix="book-build-") as tmp:
        tree = Path(tmp)
        ignore = shutil.ignore_patterns("_build", ".ipynb_checkpoints", "__pycache__")
        for name in CONTENT:
            shutil.copytree(ROOT / name, tree / name, ignore=ignore)
        if execute:
            execute_notebooks(tree)
        unique_cell_ids(tree)
        if offline:
            unlink_badge_images(tree)
            myst = tree / "book" / "myst.yml"
            text = myst.read_text()
            if "template: book-theme" not in text:
                sys.exit(
                    "book/myst.yml no longer says 'template: book-theme'; update build_book.py"
                )
            myst.write_text(text.replace("template: book-theme", "template: ./_offline_template"))
        code = run_myst(["jupyter", "book", "build", fmt, "--strict", "--ci"], tree / "book")
        built = tree / "book" / "_build" / ("site" if offline else "html")
        out = ROOT / "book" / "_build" / ("offline-site" if offline else "html")
        if built.exists():
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(built, out)
            print(f"written to {out.relative_to(ROOT)}")
        return code


def main() -> int:
    parser = argparse.ArgumentParser(description="Build the course book.")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--offline", action="store_true", help="content build, local template")
    mode.add_argument("--html", action="store_true", help="static HTML with the theme (online)")
    parser.add_argument("--no-execute", action="store_true", help="do not execute notebooks")
    args = parser.parse_args()
    return build(args.offline, not args.no_execute)


if __name__ == "__main__":
    sys.exit(main())
