"""Fail when a committed notebook has outputs or execution counts (they are stored stripped)."""

import subprocess
import sys

import nbformat

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
    print("\n".join(bad) or f"{len(files)} notebooks stored without outputs")
    sys.exit(1 if bad else 0)
