"""Structure every chapter notebook must have (content is executed by nbval and the book build)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
BIB_KEYS = set(re.findall(r"@\w+\{(\w+),", (ROOT / "book" / "references.bib").read_text()))


def _markdown(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_structure(path: Path):
    text = _markdown(path)
    titles = re.findall(r"^# .+", text, flags=re.M)
    assert len(titles) == 1, f"{path.name}: exactly one H1 title, found {titles}"
    assert "Misconceptions this chapter corrects" in text, f"{path.name}: no misconceptions box"
    cited = set(re.findall(r"@([A-Za-z0-9_]+)\]", text)) | set(
        re.findall(r"\[@([A-Za-z0-9_]+)", text)
    )
    assert cited, f"{path.name}: cites no paper"
    assert cited <= BIB_KEYS, (
        f"{path.name}: citations missing from references.bib: {cited - BIB_KEYS}"
    )


def test_every_chapter_is_in_the_book():
    toc = (ROOT / "book" / "myst.yml").read_text()
    for path in CHAPTERS:
        assert f"../notebooks/{path.name}" in toc, f"{path.name} is not in book/myst.yml"


def _card(name: str) -> dict:
    import json

    folder = ROOT / "src" / "course_utils" / "course_checkpoints" / name  # package data
    return json.loads((folder / "metrics.json").read_text(encoding="utf-8"))


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _quotes(chapter: str) -> list[str]:
    """What a chapter's prose says about its committed checkpoint, built from metrics.json."""
    if chapter == "02_bert":
        card = _card("course-bert-small")
        kinds = card["valid_accuracy_by_target_kind"]
        return [
            f"right {_pct(kinds['mask token']['accuracy'])} of the time",
            f"against {_pct(card['unigram_baseline']['accuracy'])} for always guessing",
            f"{100 * kinds['unchanged']['accuracy']:.0f}% of the unchanged targets",
            f"{card['steps']:,} steps",
        ]
    card = _card("course-roberta-small")
    kinds = card["valid_accuracy_by_target_kind"]
    return [
        f"perplexity of {card['valid']['perplexity']:.0f}",
        f"against {card['unigram_baseline']['perplexity']:.0f} for a unigram model",
        f"{_pct(kinds['mask token']['accuracy'])} of the `<mask>` targets",
        f"against {_pct(card['unigram_baseline']['accuracy'])} for always guessing",
    ]


@pytest.mark.parametrize("chapter", ["02_bert", "03_roberta"])
def test_chapter_text_quotes_the_committed_checkpoints(chapter: str):
    # the prose quotes the model cards; rebuilding a checkpoint must update the chapter too
    text = re.sub(r"\s+", " ", _markdown(ROOT / "notebooks" / f"{chapter}.ipynb"))
    for quoted in _quotes(chapter):
        assert quoted in text, f"{chapter}.ipynb should say {quoted!r} (checkpoint metrics.json)"
