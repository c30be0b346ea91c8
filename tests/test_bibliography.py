"""book/bibliography.md is generated from references.bib and the pages that cite each work."""

from __future__ import annotations

from pathlib import Path

import bibliography  # scripts/ is on pytest's pythonpath
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]

BIB = """\
@article{alpha2020one,
  title   = {{Alpha}: The First Work},
  author  = {Alpha, Ann},
  year    = {2020}
}

@inproceedings{beta2021two,
  title     = {Beta Is Second},
  author    = {Beta, Bob},
  year      = {2021}
}

@article{gamma2022three,
  title   = {Gamma},
  year    = {2022}
}
"""


@pytest.fixture
def fake_root(tmp_path: Path) -> Path:
    (tmp_path / "book").mkdir()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "book" / "references.bib").write_text(BIB)
    (tmp_path / "book" / "misconceptions.md").write_text("# Misconceptions\n\nSee @beta2021two.\n")
    cells = [
        nbformat.v4.new_markdown_cell("# One\n\nAs shown [@beta2021two; @alpha2020one]."),
        nbformat.v4.new_code_cell("# @gamma2022three in code is not a citation"),
    ]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), tmp_path / "notebooks" / "01_one.ipynb")
    return tmp_path


def test_bib_entries_read_keys_and_titles(fake_root):
    assert bibliography.bib_entries(fake_root) == {
        "alpha2020one": "Alpha: The First Work",
        "beta2021two": "Beta Is Second",
        "gamma2022three": "Gamma",
    }


def test_render_lists_every_work_with_the_pages_that_cite_it(fake_root):
    page = bibliography.render(fake_root)
    assert page.startswith("# Bibliography\n")
    chapter = "[Chapter 1](../notebooks/01_one.ipynb)"
    assert f"- @alpha2020one, *Alpha: The First Work*. Cited in {chapter}.\n" in page
    where = f"{chapter}, [Misconceptions](misconceptions.md)"
    beta = f"- @beta2021two, *Beta Is Second*. Cited in {where}."
    assert beta in page
    uncited = page.split("## Not cited yet", 1)[1]
    assert "- @gamma2022three, *Gamma*.\n" in uncited and "@alpha" not in uncited
    assert page.count("- @") == 3


def test_a_key_that_prefixes_another_is_not_counted(fake_root):
    bib = fake_root / "book" / "references.bib"
    bib.write_text(BIB + "\n@article{alpha2020,\n  title = {Short},\n  year = {2020}\n}\n")
    page = bibliography.render(fake_root)
    assert "- @alpha2020, *Short*.\n" in page.split("## Not cited yet", 1)[1]


def test_entry_without_a_title_is_reported(fake_root):
    (fake_root / "book" / "references.bib").write_text("@misc{x2020,\n  year = {2020}\n}\n")
    with pytest.raises(ValueError, match="'x2020' has no one-line 'title"):
        bibliography.bib_entries(fake_root)


def test_committed_page_is_up_to_date():
    assert (ROOT / "book" / "bibliography.md").read_text() == bibliography.render(), (
        "run `python scripts/bibliography.py`"
    )
    assert "@yang2019xlnet" in bibliography.render()
