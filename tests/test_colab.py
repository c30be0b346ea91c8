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


def _fake_repo(tmp_path: Path, monkeypatch, with_exercises: bool = True) -> Path:
    """A repository with one chapter and (optionally) its exercise and solution notebooks."""
    monkeypatch.setattr(colab, "REPO_ROOT", tmp_path)
    for folder in ("notebooks", "exercises", "solutions", "book"):
        (tmp_path / folder).mkdir()
    chapter = tmp_path / "notebooks" / "07_x.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Fine-tuning\n\nText.")])
    nbformat.write(nb, chapter)
    if with_exercises:
        questions = "## Question 1: a loss\n\nText.\n\n## Question 2: a metric"
        ex = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(questions)])
        for folder in ("exercises", "solutions"):
            nbformat.write(ex, tmp_path / folder / "07_x.ipynb")
    return chapter


def test_sync_ends_a_chapter_with_its_exercise_links(tmp_path, monkeypatch):
    chapter = _fake_repo(tmp_path, monkeypatch)
    nbformat.write(colab.sync_notebook(chapter, nbformat.read(chapter, 4)), chapter)
    last = nbformat.read(chapter, 4).cells[-1]
    assert last.metadata["tags"] == [colab.EXERCISES_TAG]
    assert last.source.startswith("## Exercises for this chapter")
    assert "(a loss; a metric)" in last.source
    for folder in ("exercises", "solutions"):
        rel = f"{folder}/07_x.ipynb"
        assert f"({colab.badge_url(rel)})" in last.source
        assert f"(https://github.com/{config.GITHUB_REPO}/blob/{config.GITHUB_REF}/{rel})" in (
            last.source
        )
    assert colab.problems(chapter) == []
    again = colab.sync_notebook(chapter, nbformat.read(chapter, 4))  # idempotent
    assert [c.source for c in again.cells] == [c.source for c in nbformat.read(chapter, 4).cells]


def test_check_detects_stale_or_missing_exercise_links(tmp_path, monkeypatch):
    chapter = _fake_repo(tmp_path, monkeypatch)
    nb = colab.sync_notebook(chapter, nbformat.read(chapter, 4))
    nb.cells[-1].source = nb.cells[-1].source.replace("a metric", "an old question")
    nbformat.write(nb, chapter)
    assert "Exercises for this chapter" in colab.problems(chapter)[0]
    nb.cells.append(nbformat.v4.new_markdown_cell("A cell added after the links."))
    nbformat.write(nb, chapter)
    assert colab.problems(chapter)
    nb.cells = nb.cells[:-2]  # links removed altogether
    nbformat.write(nb, chapter)
    assert colab.problems(chapter)


def test_no_exercise_links_without_exercises(tmp_path, monkeypatch):
    chapter = _fake_repo(tmp_path, monkeypatch, with_exercises=False)
    nb = colab.sync_notebook(chapter, nbformat.read(chapter, 4))
    assert not any(colab.EXERCISES_TAG in c.metadata.get("tags", []) for c in nb.cells)
    stale = nbformat.v4.new_markdown_cell("## Exercises for this chapter")
    stale.metadata["tags"] = [colab.EXERCISES_TAG]
    nb.cells.append(stale)
    nbformat.write(nb, chapter)
    assert "no exercises/07_x.ipynb" in colab.problems(chapter)[0]


def test_exercises_page_table_is_generated_and_checked(tmp_path, monkeypatch):
    chapter = _fake_repo(tmp_path, monkeypatch)
    page = tmp_path / colab.EXERCISES_PAGE
    page.write_text(f"# Exercises\n\n{colab.PAGE_BEGIN}\nold\n{colab.PAGE_END}\n\nMore.\n")
    assert "out of date" in colab.exercises_page_problems()[0]
    colab.sync_exercises_page()
    text = page.read_text()
    assert text.startswith("# Exercises\n\n") and text.endswith(f"{colab.PAGE_END}\n\nMore.\n")
    assert "| [7. Fine-tuning](../notebooks/07_x.ipynb) | a loss; a metric |" in text
    assert colab.badge_url("solutions/07_x.ipynb") in text and colab.exercises_page_problems() == []
    assert colab.problems(chapter)  # the chapter itself was not synced yet
    page.write_text("# Exercises without markers\n")
    assert "marker lines" in colab.exercises_page_problems()[0]


def test_real_exercises_page_and_chapters_link_every_exercise_notebook():
    assert colab.exercises_page_problems() == []
    page = (colab.REPO_ROOT / colab.EXERCISES_PAGE).read_text()
    for exercise in sorted((colab.REPO_ROOT / "exercises").glob("*.ipynb")):
        for folder in ("exercises", "solutions"):
            assert colab.badge_url(f"{folder}/{exercise.name}") in page
            assert colab.github_url(f"{folder}/{exercise.name}") in page


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(colab.REPO_ROOT).as_posix())
def test_sync_leaves_a_notebook_in_sync_unchanged(path: Path):
    # `make sync-colab` must not renumber the generated exercise notebooks' cell ids
    before = nbformat.writes(nbformat.read(path, as_version=4))
    assert nbformat.writes(colab.sync_notebook(path, nbformat.read(path, as_version=4))) == before
