"""Expected outputs of deterministic notebook cells, kept outside the (stripped) notebooks.

Notebooks are committed without outputs, so nbval alone would have nothing to compare. Cells
tagged `nbval-check-output` get their expected text outputs from `tests/snapshots/<path>.json`,
written by `python -m course_utils.snapshots update [NOTEBOOK ...]` after a reviewed run, and the
root conftest.py hands them to nbval before each cell runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import nbformat

CHECK_TAG = "nbval-check-output"
REPO_ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT_DIR = REPO_ROOT / "tests" / "snapshots"


def snapshot_path(notebook: Path) -> Path:
    """Where the expected outputs of `notebook` are stored."""
    rel = Path(notebook).resolve().relative_to(REPO_ROOT)
    return SNAPSHOT_DIR / rel.with_suffix(".json")


def checked_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """Code cells whose output is compared."""
    return [
        c for c in nb.cells if c.cell_type == "code" and CHECK_TAG in c.metadata.get("tags", [])
    ]


def _text_only(outputs: list) -> list[dict]:
    """Keep what nbval compares and a reviewer can read: streams and text/plain results."""
    kept = []
    for out in outputs:
        if out["output_type"] == "stream":
            kept.append({"output_type": "stream", "name": out["name"], "text": out["text"]})
        elif out["output_type"] in ("execute_result", "display_data"):
            if "text/plain" in out.get("data", {}):
                kept.append(
                    {
                        "output_type": out["output_type"],
                        "data": {"text/plain": out["data"]["text/plain"]},
                        "metadata": {},
                        **(
                            {"execution_count": 1} if out["output_type"] == "execute_result" else {}
                        ),
                    }
                )
    return kept


def load(notebook: Path) -> dict[str, list[dict]]:
    """Expected outputs by cell id; empty when the notebook has no snapshot yet."""
    path = snapshot_path(notebook)
    return json.loads(path.read_text()) if path.exists() else {}


def update(notebook: Path) -> Path:
    """Execute `notebook` and store the outputs of its checked cells."""
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(
        nb,
        timeout=1800,
        kernel_name="python3",
        resources={"metadata": {"path": str(notebook.parent)}},
    ).execute()
    expected = {c.id: _text_only(c.outputs) for c in checked_cells(nb)}
    path = snapshot_path(notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(expected, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["update"])
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for notebook in args.notebooks:
        print(f"wrote {update(notebook.resolve()).relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
