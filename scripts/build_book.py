"""Build the book: executed chapters in, then Jupyter Book 2 (MyST) builds the site.

Online (GitHub Pages):   python scripts/build_book.py --html      -> book/_build/html
Offline (CI here):       python scripts/build_book.py --offline --executed _build/executed
                                                                  -> book/_build/offline-site

Notebooks are stored without outputs. The build copies book/ and the notebook folders into a
temporary directory and puts executed chapters there, in one of two ways:

- `--executed DIR` (CI, `make test`): the copies that `make pytest` (nbval) wrote while it checked
  the notebooks (see conftest.py). Each notebook is executed ONCE per CI run; a copy whose source
  hash no longer matches the notebook, or that failed, stops the build with the command to rerun.
- otherwise the build executes every chapter itself with nbclient (same kernel as the tests;
  mystmd's own --execute needs a Jupyter server rooted above book/), 600 s per cell at most.

Either way the build then drops widget views and widget state (a static site has no kernel:
they render as "a Jupyter kernel connection is required" or a raw `VBox(...)` repr; chapters
show a static figure for every widget). Offline, the theme cannot be downloaded, so the copy's
myst.yml points at the minimal local template in book/_offline_template: that still parses,
cross-references and checks every page. Any error or warning line fails the build.
"""

from __future__ import annotations

import argparse
import hashlib
import json
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
CELL_TIMEOUT = 600  # seconds per cell: a hung cell (once: after a widget) fails, not the CI job
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


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
                    timeout=CELL_TIMEOUT,
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


def use_executed(tree: Path, executed: Path, root: Path = ROOT) -> None:
    """Put the notebooks that nbval executed (conftest.py) in place of the stripped ones.

    Each must have passed, and its recorded sha256 must match the notebook under `root` now.
    """
    times_file = executed / "times.json"
    if not times_file.is_file():
        sys.exit(f"no {times_file}: run `make pytest` first (it executes and saves the notebooks)")
    times = json.loads(times_file.read_text(encoding="utf-8"))
    problems = []
    for folder in EXECUTED:
        for path in sorted((tree / folder).glob("*.ipynb")):
            rel = f"{folder}/{path.name}"
            entry, copy = times.get(rel), executed / rel
            sha = hashlib.sha256((root / rel).read_bytes()).hexdigest()
            if entry is not None and entry.get("status") != "passed":
                problems.append(f"{rel}: its nbval run {entry.get('status')}")
            elif entry is None or not copy.is_file():
                problems.append(f"{rel}: no executed copy in {executed}")
            elif entry.get("sha256") != sha:
                problems.append(f"{rel}: changed since nbval executed it")
            else:
                shutil.copyfile(copy, path)
                print(f"using {rel} as executed by nbval ({entry['seconds']} s)", flush=True)
    if problems:
        print("\n".join(f"  {p}" for p in problems))
        sys.exit("executed notebooks missing or stale: run `make pytest` again, then the build")


def drop_widgets(tree: Path) -> int:
    """Remove widget views and widget state from executed notebooks; return how many went.

    A widget view needs a live kernel: on a static page it shows a notice or the widget's text
    repr. An output that holds nothing but the view (and its text/plain repr) goes entirely.
    """
    dropped = 0
    for path in tree.rglob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        changed = nb.metadata.pop("widgets", None) is not None
        for cell in nb.cells:
            kept = []
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                if WIDGET_VIEW in data or WIDGET_STATE in data:
                    dropped += 1
                    changed = True
                    rest = {k: v for k, v in data.items() if k not in (WIDGET_VIEW, WIDGET_STATE)}
                    rest.pop("text/plain", None)  # the "VBox(children=...)" repr
                    if not rest:
                        continue
                    out["data"] = rest
                kept.append(out)
            if cell.cell_type == "code":
                cell.outputs = kept
        if changed:
            nbformat.write(nb, path)
    return dropped


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


def build(offline: bool, execute: bool, executed: Path | None = None) -> int:
    fmt = "--site" if offline else "--html"
    with tempfile.TemporaryDirectory(prefix="book-build-") as tmp:
        tree = Path(tmp)
        ignore = shutil.ignore_patterns("_build", ".ipynb_checkpoints", "__pycache__")
        for name in CONTENT:
            shutil.copytree(ROOT / name, tree / name, ignore=ignore)
        if executed is not None:
            use_executed(tree, executed)
        elif execute:
            execute_notebooks(tree)
        print(f"dropped {drop_widgets(tree)} widget output(s) the static site cannot show")
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
    parser.add_argument(
        "--executed",
        type=Path,
        default=None,
        help="use the notebooks that `make pytest` executed (e.g. _build/executed) instead",
    )
    args = parser.parse_args()
    executed = args.executed.resolve() if args.executed else None
    return build(args.offline, not args.no_execute, executed)


if __name__ == "__main__":
    sys.exit(main())
