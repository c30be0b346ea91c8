"""Fail when a committed notebook has outputs or execution counts (they are stored stripped),
or when a chapter notebook shows a code line longer than the website's width.

The website cuts code lines longer than WIDTH characters at the right edge, so every code cell
of a chapter (notebooks/*.ipynb) that the site shows keeps its lines within WIDTH. Cells tagged
`remove-cell` (the Colab install cell) are not shown and are not checked.
"""

import subprocess
import sys

import nbformat

WIDTH = 88
CHAPTERS = "notebooks/"


def long_lines(path: str, nb: nbformat.NotebookNode) -> list[str]:
    """One message per code line over WIDTH in a cell the website shows."""
    found = []
    for cell in nb.cells:
        if cell.cell_type != "code" or "remove-cell" in cell.metadata.get("tags", []):
            continue
        for number, line in enumerate(cell.source.splitlines(), start=1):
            if len(line) > WIDTH:
                found.append(
                    f"{path}: cell {cell.get('id', '?')} line {number} has {len(line)} characters"
                    f" (the site shows {WIDTH}): {line.strip()[:60]}"
                )
    return found


if __name__ == "__main__":
    files = subprocess.run(
        ["git", "ls-files", "*.ipynb"], capture_output=True, text=True, check=True
    ).stdout.split()
    bad = []
    for path in files:
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
                bad.append(f"{path}: cell {i} has outputs; run `nbstripout {path}`")
                break
        if path.startswith(CHAPTERS):
            bad.extend(long_lines(path, nb))
    print("\n".join(bad) or f"{len(files)} notebooks stored without outputs, code lines fit")
    sys.exit(1 if bad else 0)
