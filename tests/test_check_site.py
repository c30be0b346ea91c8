"""scripts/check_site.py finds what readers must not see, on crafted pages and on a real build."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import check_notebooks  # scripts/ is on pytest's pythonpath
import check_site
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def stream(text: str, name: str = "stdout") -> dict:
    return {"type": "output", "jupyter_data": {"output_type": "stream", "name": name, "text": text}}


def display(**data: str) -> dict:
    wrapped = {
        mime.replace("_", "/", 1).replace("_", "."): {"content": value, "content_type": mime}
        for mime, value in data.items()
    }
    return {"type": "output", "jupyter_data": {"output_type": "display_data", "data": wrapped}}


def code_block(source: str, *outputs: dict, visibility: str | None = None) -> dict:
    block = {
        "type": "block",
        "kind": "notebook-code",
        "children": [
            {"type": "code", "lang": "python", "executable": True, "value": source},
            {"type": "outputs", "children": list(outputs)},
        ],
    }
    if visibility:
        block["visibility"] = visibility
    return block


def page(*blocks: dict, title: str = "Chapter", **extra) -> dict:
    mdast = {"type": "root", "children": list(blocks)}
    base = {"location": "/notebooks/99_x.ipynb", "frontmatter": {"title": title}, "mdast": mdast}
    return base | extra


def rules(page_json: dict) -> list[str]:
    return [p.rule for p in check_site.check_page(page_json)]


CLEAN = page(
    code_block(
        "print(round(0.123456, 3))",
        stream("0.123\n"),
        display(image_png="iVBOR...", text_plain="<Figure size 640x480 with 1 Axes>"),
        display(text_html="<table><tr><td>1</td></tr></table>", text_plain="   a\n0  1"),
    ),
    {"type": "heading", "depth": 2, "children": [{"type": "text", "value": "Chapter"}]},
)


def test_a_clean_page_passes():
    assert check_site.check_page(CLEAN) == []


@pytest.mark.parametrize(
    ("bad_output", "rule"),
    [
        (
            display(text_plain="VBox(children=(HBox(children=(Dropdown(description='s'),)),))"),
            "widget repr",
        ),
        (
            display(**{"application_vnd_jupyter_widget-view+json": '{"model_id": "a"}'}),
            "widget view",
        ),
        (
            stream("A Jupyter kernel connection is required to display this widget\n"),
            "kernel-connection notice",
        ),
        (
            stream("Loading weights:   0%|          | 0/199 [00:00<?, ?it/s]\n", "stderr"),
            "progress bar",
        ),
        (
            stream("MLM:  40%|████      | 40/100 [00:03<00:05, 11.2it/s]\n", "stderr"),
            "progress bar",
        ),
        (stream("step 10\rstep 20\rstep 30\n"), "progress bar"),
        (stream("saved to /tmp/tmpab12cd/model.safetensors\n"), "machine path"),
        (stream("cache: /root/.cache/huggingface/hub\n"), "machine path"),
        (
            stream("/usr/lib/python3/site-packages/x.py:3: UserWarning: careful\n", "stderr"),
            "machine path",
        ),
        (stream("data in /home/alice/data and /work/shared/data\n"), "machine path"),
        (
            stream("   a    b    c  \\\n0  1    2    3  \n\n   d\n0  4\n"),
            "table cut into text (use display(df))",
        ),
        (
            stream("    a  ...    z\n0   1  ...   26\n\n[1 rows x 26 columns]\n"),
            "table cut into text (use display(df))",
        ),
        (stream("x" * 89 + "\n"), "output line over 88 chars"),
        (
            {
                "type": "output",
                "jupyter_data": {
                    "output_type": "error",
                    "ename": "ValueError",
                    "evalue": "bad",
                    "traceback": [],
                },
            },
            "error output",
        ),
    ],
)
def test_each_rule_fires_on_bad_output(bad_output, rule):
    assert rule in rules(page(code_block("x = 1", bad_output)))


def test_code_lines_duplicated_titles_widget_state_and_notices():
    long_code = page(code_block("y = " + "1 + " * 30 + "1"))
    assert rules(long_code) == ["code line over 88 chars"]
    fence = {"type": "code", "lang": "bash", "value": "make install " + "x" * 80}
    assert rules(page({"type": "block", "children": [fence]})) == ["code line over 88 chars"]
    title = {"type": "heading", "depth": 1, "children": [{"type": "text", "value": "Chapter"}]}
    assert rules(page({"type": "block", "children": [title]})) == ["duplicated title"]
    assert rules(page(widgets={"model-1": {}})) == ["widget state"]
    notice = {"type": "text", "value": "A Jupyter kernel connection is required."}
    assert rules(page({"type": "paragraph", "children": [notice]})) == ["kernel-connection notice"]


def test_removed_cells_and_plain_text_behind_rich_output_are_not_shown():
    hidden = code_block(
        "open('/tmp/keep.txt')  " + "#" * 80, stream("/tmp/x\n"), visibility="remove"
    )
    behind_figure = display(image_png="iVBOR...", text_plain="/tmp/figure " + "x" * 90)
    assert rules(page(hidden, code_block("plot()", behind_figure))) == []
    # but a path inside the HTML that is shown is found
    html = display(text_html="<td>/root/.cache/x</td>", text_plain="t")
    assert rules(page(code_block("df", html))) == ["machine path"]


def test_urls_and_ordinary_fractions_are_not_flagged():
    fine = stream(
        "see https://github.com/encoder-course/transformer-encoders/blob/main/home/tmp/x\n"
        "accuracy 3/10 on the held-out set; 50% of tokens\n"
    )
    assert rules(page(code_block("print(...)", fine))) == []


def _write_site(tmp_path: Path, *pages: dict) -> Path:
    content = tmp_path / "site" / "content"
    content.mkdir(parents=True)
    for i, page_json in enumerate(pages):
        (content / f"page{i}.json").write_text(json.dumps(page_json))
    return tmp_path / "site"


def test_main_reports_file_and_snippet_and_exit_codes(tmp_path, capsys):
    bad = page(code_block("x", stream("Loading weights: 100%|██████| 3/3 [00:00<00:00]\n")))
    site = _write_site(tmp_path, CLEAN, bad)
    assert check_site.main(["--site", str(site)]) == 1
    out = capsys.readouterr().out
    assert "/notebooks/99_x.ipynb: [progress bar]" in out and "content/page1.json" in out
    assert '"Loading weights: 100%' in out
    assert check_site.main(["--site", str(_write_site(tmp_path / "ok", CLEAN))]) == 0


def test_an_empty_or_unexecuted_site_fails(tmp_path, capsys):
    assert check_site.main(["--site", str(tmp_path / "missing")]) == 2
    assert "build first" in capsys.readouterr().out
    unexecuted = page(code_block("print(1)"))
    assert check_site.main(["--site", str(_write_site(tmp_path, unexecuted))]) == 1
    assert "were the notebooks executed" in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("jupyter-book") is None, reason="needs the jupyter-book CLI")
def test_real_content_build_of_a_bad_notebook_is_caught(tmp_path):
    """The JSON layout the checker reads is the one mystmd writes (guards against drift)."""
    (tmp_path / "myst.yml").write_text(
        "version: 1\nproject:\n  title: t\n  toc:\n    - file: a.ipynb\n    - file: b.ipynb\n"
        f"site:\n  template: {ROOT / 'book' / '_offline_template'}\n"
    )
    title = nbformat.v4.new_markdown_cell("# Title")
    cell = nbformat.v4.new_code_cell("w = widget()  # " + "x" * 80)
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="Loading weights: 0%| | 0/9\n"),
        nbformat.v4.new_output(
            "display_data",
            data={
                "text/plain": "VBox(children=(IntSlider(value=0),))",
                "application/vnd.jupyter.widget-view+json": {"model_id": "m", "version_major": 2},
            },
        ),
        nbformat.v4.new_output("stream", name="stdout", text="written to /tmp/abc/out.bin\n"),
    ]
    hidden = nbformat.v4.new_code_cell("print('/tmp/keep.txt')")
    hidden.metadata["tags"] = ["remove-cell"]
    hidden.outputs = [nbformat.v4.new_output("stream", name="stdout", text="/tmp/keep.txt\n")]
    nb = nbformat.v4.new_notebook(cells=[title, hidden, cell])
    nbformat.write(nb, tmp_path / "a.ipynb")
    # the layout that once showed every chapter's title twice: a badge above the '# Title'
    badge_first = [
        nbformat.v4.new_markdown_cell("[Open in Colab](https://colab.research.google.com/x)"),
        nbformat.v4.new_markdown_cell("# Second chapter\n\nText."),
    ]
    nbformat.write(nbformat.v4.new_notebook(cells=badge_first), tmp_path / "b.ipynb")
    subprocess.run(
        ["jupyter-book", "build", "--site", "--ci"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=300,
    )
    found = check_site.check_site(tmp_path / "_build" / "site")
    joined = "\n".join(found)
    for rule in ("code line over 88", "progress bar", "widget view", "widget repr", "machine path"):
        assert f"[{rule}" in joined, joined
    assert "keep.txt" not in joined  # the removed cell is not on the page
    duplicated = [line for line in found if "[duplicated title]" in line]
    assert duplicated == [line for line in found if line.startswith("/b.ipynb")], joined
    assert len(duplicated) == 1  # a.ipynb's leading '# Title' became the page title


def test_check_notebooks_flags_long_code_lines_the_site_shows():
    shown = nbformat.v4.new_code_cell("short = 1\nlong = " + "1 + " * 25 + "1")
    hidden = nbformat.v4.new_code_cell("x = '" + "y" * 100 + "'")
    hidden.metadata["tags"] = ["remove-cell"]
    prose = nbformat.v4.new_markdown_cell("z" * 120)
    nb = nbformat.v4.new_notebook(cells=[shown, hidden, prose])
    found = check_notebooks.long_lines("notebooks/99_x.ipynb", nb)
    assert len(found) == 1 and "line 2 has 108 characters" in found[0]
