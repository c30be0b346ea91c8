"""Give nbval the expected outputs of tagged cells (notebooks themselves are stored stripped)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from course_utils import snapshots


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    cache: dict[Path, dict] = {}
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is None or snapshots.CHECK_TAG not in cell.metadata.get("tags", []):
            continue
        path = Path(str(item.fspath))
        expected = cache.setdefault(path, snapshots.load(path))
        if cell.id not in expected:
            _fail_after_running(item, f"no expected output stored for tagged cell {cell.id}")
            continue
        cell.outputs = [nbformat.from_dict(o) for o in expected[cell.id]]
        cell.execution_count = 1


def _fail_after_running(item: pytest.Item, why: str) -> None:
    """Run the cell (later cells need its state), then fail with the fix."""
    run = item.runtest
    fix = f"python -m course_utils.snapshots update {Path(str(item.fspath)).name}"

    def runtest() -> None:
        run()
        pytest.fail(f"{why}: run `{fix}` from its folder and review the diff", pytrace=False)

    item.runtest = runtest
