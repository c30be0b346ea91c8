"""Colab badges point at each notebook's own path; install cells are current and Colab-only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_utils import colab, config

NOTEBOOKS = colab.notebook_paths()


def test_there_are_notebooks():
    assert any(p.parent.name == "notebooks" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(colab.REPO_ROOT).as_posix())
def test_badge_points_at_own_path_and_install_cell_is_current(path: Path):
    nb = nbformat.read(path, as_version=4)
    rel = path.relative_to(colab.REPO_ROOT).as_posix()
    expected = f"https://colab.research.google.com/github/{config.GITHUB_REPO}/blob/{config.GITHUB_REF}/{rel}"
    assert nb.cells[0].source.startswith("# ") and "\n" not in nb.cells[0].source, rel
    assert f"({expected})" in nb.cells[1].source, f"{rel}: badge does not open {rel}"
    assert colab.problems(path) == []


def test_check_detects_a_badge_for_another_path(tmp_path, monkeypatch):
    monkeypatch.setattr(colab, "REPO_ROOT", tmp_path)
    path = tmp_path / "notebooks" / "99_x.ipynb"
    path.parent.mkdir()
    nb = colab.sync_notebook(path, nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]))
    nbformat.write(nb, path)
    assert colab.problems(path) == []
    nb.cells[0].source = colab.badge_markdown("notebooks/01_attention.ipynb")
    nbformat.write(nb, path)
    assert "own path" in colab.problems(path)[0]


def test_sync_is_idempotent_and_keeps_other_cells(tmp_path, monkeypatch):
    monkeypatch.setattr(colab, "REPO_ROOT", tmp_path)
    path = tmp_path / "a.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title")])
    once = colab.sync_notebook(path, nb)
    twice = colab.sync_notebook(path, nbformat.from_dict(once))
    assert [c.source for c in once.cells] == [c.source for c in twice.cells]
    assert [c.source for c in twice.cells][0] == "# Title" and len(twice.cells) == 3


def test_sync_puts_the_badge_under_the_title_line(tmp_path, monkeypatch):
    monkeypatch.setattr(colab, "REPO_ROOT", tmp_path)
    path = tmp_path / "a.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title\n\nIntro.")])
    nbformat.write(colab.sync_notebook(path, nb), path)
    cells = nbformat.read(path, as_version=4).cells
    assert [c.source for c in cells[:1] + cells[3:]] == ["# Title", "Intro."]
    assert "colab-badge" in cells[1].metadata["tags"] and colab.problems(path) == []
    cells[0].source = "# Title\n\nIntro."  # a title cell with more in it than the title line
    nbformat.write(nbformat.v4.new_notebook(cells=[cells[0], *cells[3:]]), path)
    assert colab.problems(path)


def test_install_cell_does_nothing_outside_colab():
    # Run in a fresh interpreter: it must not call pip or print anything off Colab.
    out = subprocess.run(
        [sys.executable, "-c", colab.install_source()], capture_output=True, text=True, check=True
    )
    assert out.stdout == "" and out.stderr == ""


def test_install_cell_protects_torch_and_numpy():
    source = colab.install_source()
    assert '"-c",\n            "/tmp/keep.txt",' in source and '("torch", "numpy")' in source
    assert f"git+https://github.com/{config.GITHUB_REPO}@{config.GITHUB_REF}" in source
    assert "Restart" in source
