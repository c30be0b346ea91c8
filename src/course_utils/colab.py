"""Colab badges and the Colab-only install cell, kept identical in every notebook.

Every notebook starts with its `# Title` line alone in a cell, then two cells owned by this module:
a badge that opens the notebook's own path on Colab, and an install cell that only acts on Colab.
`python -m course_utils.colab sync` rewrites them from the values in `config`;
`check` (run by the tests) fails when a notebook drifts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from course_utils.config import GITHUB_REF, GITHUB_REPO

BADGE_TAG = "colab-badge"
INSTALL_TAG = "colab-install"
REPO_ROOT = Path(__file__).resolve().parents[2]

# The install cell cannot import course_utils (it is what gets installed), so it is self-contained.
# Why a constraints file: pip must never replace Colab's CUDA build of torch or its numpy.
INSTALL_CELL = """\
# Colab only: install the course package at the pinned ref, keeping Colab's torch and numpy.
import sys

if "google.colab" in sys.modules:
    import importlib.metadata as md
    import subprocess

    def _versions():
        return {d.metadata["Name"].lower(): d.version for d in md.distributions()}

    before = _versions()
    with open("/tmp/keep.txt", "w") as f:
        f.write("".join(f"{p}=={before[p]}\\n" for p in ("torch", "numpy") if p in before))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "-c",
            "/tmp/keep.txt",
            "course-utils @ git+https://github.com/REPO@REF",
        ],
        check=True,
    )
    changed = {n for n, v in _versions().items() if before.get(n) not in (None, v)}
    loaded = {
        d.lower() for m, ds in md.packages_distributions().items() if m in sys.modules for d in ds
    }
    if changed & loaded:
        print("Installed. Restart the runtime now (Runtime > Restart session), then run all cells.")
    else:
        print("Course package installed; no restart needed.")
"""


def badge_url(nb_path: str | Path) -> str:
    """Colab URL that opens `nb_path` (relative to the repository root) at the configured ref."""
    rel = Path(nb_path).as_posix()
    return f"https://colab.research.google.com/github/{GITHUB_REPO}/blob/{GITHUB_REF}/{rel}"


def badge_markdown(nb_path: str | Path) -> str:
    """The badge cell's Markdown for the notebook at `nb_path`."""
    return (
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({badge_url(nb_path)})"
    )


def install_source() -> str:
    """The install cell's code, pointing at the configured repository and ref."""
    return INSTALL_CELL.replace("REPO@REF", f"{GITHUB_REPO}@{GITHUB_REF}").rstrip("\n")


def _relative(path: Path) -> Path:
    path = Path(path).resolve()
    try:
        return path.relative_to(REPO_ROOT)
    except ValueError:
        raise ValueError(f"{path} is not inside the repository {REPO_ROOT}") from None


def _split_title(cells: list) -> tuple[nbformat.NotebookNode | None, list]:
    """Split a leading '# Title' line off the first Markdown cell, so the badge can sit under it."""
    if not cells or cells[0].cell_type != "markdown" or not cells[0].source.startswith("# "):
        return None, cells
    first = cells[0]
    head, _, rest = first.source.partition("\n")
    title = nbformat.v4.new_markdown_cell(head)
    title.id = "title"
    if not rest.strip():
        return title, cells[1:]
    first.source = rest.lstrip("\n")
    return title, [first, *cells[1:]]


def sync_notebook(path: Path, nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return `nb` with its title first, then the badge and install cells, for its repo `path`.

    The title must come first: the book takes a page's title from its first heading, and a badge
    above it made every chapter show its title twice.
    """
    cells = [c for c in nb.cells if not {BADGE_TAG, INSTALL_TAG} & set(c.metadata.get("tags", []))]
    title, cells = _split_title(cells)
    badge = nbformat.v4.new_markdown_cell(badge_markdown(_relative(path)))
    badge.metadata["tags"] = [BADGE_TAG]
    install = nbformat.v4.new_code_cell(install_source())
    install.metadata["tags"] = [INSTALL_TAG, "remove-cell"]  # remove-cell: hidden on the website
    badge.id, install.id = "colab-badge", "colab-install"
    nb.cells = [*([title] if title else []), badge, install, *cells]
    return nb


def _badge_index(nb: nbformat.NotebookNode) -> int:
    """Where the badge belongs: right under a leading '# Title' cell, else first."""
    first = nb.cells[0] if nb.cells else None
    is_title = first is not None and first.cell_type == "markdown" and first.source.startswith("# ")
    return 1 if is_title and "\n" not in first.source.strip() else 0


def problems(path: Path) -> list[str]:
    """What is wrong with the notebook's title, badge and install cells (empty when in sync)."""
    nb = nbformat.read(path, as_version=4)
    found: list[str] = []
    i = _badge_index(nb)
    if len(nb.cells) < i + 2:
        return [f"{path}: fewer cells than the title, badge and install cells"]
    if nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ") and i == 0:
        found.append(f"{path}: the title cell holds more than the '# Title' line")
    badge, install = nb.cells[i], nb.cells[i + 1]
    if badge.source != badge_markdown(_relative(path)):
        found.append(f"{path}: the cell under the title is not the Colab badge for its own path")
    if install.source != install_source():
        found.append(f"{path}: the cell under the badge is not the current Colab install cell")
    return found


def notebook_paths() -> list[Path]:
    """Every notebook a learner can open: chapters, student exercises and solutions."""
    return sorted(
        p for d in ("notebooks", "exercises", "solutions") for p in (REPO_ROOT / d).glob("*.ipynb")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["sync", "check"])
    parser.add_argument("paths", nargs="*", type=Path, help="default: every course notebook")
    args = parser.parse_args(argv)
    paths = args.paths or notebook_paths()
    if args.action == "sync":
        for path in paths:
            nb = sync_notebook(path, nbformat.read(path, as_version=4))
            nbformat.write(nb, path)
            print(f"synced {path}")
        return 0
    found = [msg for path in paths for msg in problems(path)]
    print("\n".join(found) or f"{len(paths)} notebooks: badges and install cells in sync")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
