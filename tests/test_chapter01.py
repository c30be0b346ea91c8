"""Chapter 1 as the website shows it: answers on demand, one reference list, one-call explorer."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NB = nbformat.read(ROOT / "notebooks" / "01_attention.ipynb", as_version=4)
MARKDOWN = "\n\n".join(c.source for c in NB.cells if c.cell_type == "markdown")
CODE = [c for c in NB.cells if c.cell_type == "code"]


def test_check_your_understanding_has_3_to_5_answers_on_demand():
    heads = [
        i for i, c in enumerate(NB.cells) if c.source.startswith("## Check your understanding")
    ]
    assert len(heads) == 1
    section = NB.cells[heads[0] + 1 :]
    answers = [c for c in section if c.source.startswith("<details>")]
    assert 3 <= len(answers) <= 5
    for cell in answers:
        # <details> is collapsed in Jupyter, Colab and on GitHub, and mystmd turns it into the
        # same dropdown node as :::{dropdown}
        assert cell.cell_type == "markdown" and cell.source.rstrip().endswith("</details>")
        assert "<summary>Answer</summary>" in cell.source
    questions = [c for c in section if re.match(r"\*\*\d\.\*\* ", c.source)]
    assert len(questions) == len(answers)


def test_one_reference_list_and_exercise_links_last():
    assert not re.search(r"^#+ References", MARKDOWN, flags=re.M)
    assert NB.cells[-1].source.startswith("## Exercises for this chapter")


def test_explorer_is_one_call_and_no_widget_plumbing_in_the_notebook():
    source = "\n".join(c.source for c in CODE)
    assert "attention_explorer(attend, SENTENCES)" in source
    assert "ipywidgets" not in source and "VBox" not in source


def test_site_facing_code_rules():
    for cell in CODE:
        if "remove-cell" in cell.metadata.get("tags", []):
            continue
        assert all(len(line) <= 88 for line in cell.source.splitlines()), cell.id
        assert "to_string(" not in cell.source, cell.id


def test_corrections_stay():
    assert '"Dogs bark." is five tokens' in MARKDOWN.replace("\n", " ")
    assert "eager" in MARKDOWN and "causal" in MARKDOWN
    assert "We will draw such maps once we have trained models (Chapter 2)" in MARKDOWN
    # the misconceptions box lists only false claims
    box = MARKDOWN.split("Misconceptions this chapter corrects", 1)[1].split(":::", 1)[0]
    verdicts = re.findall(r'\*\*"[^"]+"\*\*\s+(\w+)', box)
    assert verdicts and "True" not in verdicts
