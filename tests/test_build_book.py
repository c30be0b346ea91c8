"""One execution per notebook: nbval's executed copies (conftest.py) feed the book build."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import build_book  # scripts/ is on pytest's pythonpath
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


root_conftest = _load("root_conftest", ROOT / "conftest.py")
VIEW = "application/vnd.jupyter.widget-view+json"


def _notebook(outputs: list) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("explore()")
    cell.outputs = outputs
    nb.cells = [cell]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


def test_drop_widgets_keeps_static_outputs(tmp_path: Path) -> None:
    view = {VIEW: {"model_id": "abc"}, "text/plain": "VBox(children=(IntSlider(value=0),))"}
    outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="}),
        nbformat.v4.new_output("display_data", data=view),
        nbformat.v4.new_output("display_data", data={**view, "text/html": "<b>static</b>"}),
        nbformat.v4.new_output("stream", name="stdout", text="done\n"),
    ]
    path = tmp_path / "nb.ipynb"
    nbformat.write(_notebook(outputs), path)
    assert build_book.drop_widgets(tmp_path) == 2
    nb = nbformat.read(path, as_version=4)
    kept = nb.cells[0].outputs
    assert [o.output_type for o in kept] == ["display_data", "display_data", "stream"]
    assert kept[1].data == {"text/html": "<b>static</b>"}  # the view and its repr are gone
    assert "widgets" not in nb.metadata
    assert build_book.drop_widgets(tmp_path) == 0  # nothing left to drop


def _times(rel: str, sha: str, status: str = "passed") -> dict:
    return {rel: {"sha256": sha, "status": status, "seconds": 1.0, "budget": "ci"}}


@pytest.mark.parametrize(
    ("sha_ok", "status", "error"),
    [(True, "passed", None), (False, "passed", "changed since"), (True, "failed", "failed")],
)
def test_build_uses_only_current_passed_copies(
    tmp_path: Path, capsys, sha_ok: bool, status: str, error: str | None
) -> None:
    root, tree, executed = tmp_path / "repo", tmp_path / "tree", tmp_path / "executed"
    for folder in (root, tree, executed):
        (folder / "notebooks").mkdir(parents=True)
    source = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    nbformat.write(source, root / "notebooks" / "a.ipynb")
    nbformat.write(source, tree / "notebooks" / "a.ipynb")
    ran = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    ran.cells[0].outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "2"})]
    nbformat.write(ran, executed / "notebooks" / "a.ipynb")
    sha = hashlib.sha256((root / "notebooks" / "a.ipynb").read_bytes()).hexdigest()
    times = _times("notebooks/a.ipynb", sha if sha_ok else "0" * 64, status)
    (executed / "times.json").write_text(json.dumps(times))
    if error is None:
        build_book.use_executed(tree, executed, root=root)
        assert nbformat.read(tree / "notebooks" / "a.ipynb", 4).cells[0].outputs
    else:
        with pytest.raises(SystemExit, match="make pytest"):
            build_book.use_executed(tree, executed, root=root)
        assert error in capsys.readouterr().out


def test_missing_run_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="run `make pytest` first"):
        build_book.use_executed(tmp_path, tmp_path / "nothing")


def test_conftest_writes_a_valid_executed_notebook(tmp_path: Path) -> None:
    path = ROOT / "notebooks" / "01_attention.ipynb"
    nb = nbformat.read(path, as_version=4)
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    run = root_conftest._Run(path, n_code)
    # what nbval collects: raw iopub message bodies
    run.outputs = {i: [] for i in range(n_code)}
    run.outputs[1] = [{"output_type": "stream", "name": "stdout", "text": "hi\n"}]
    run.outputs[2] = [
        {"output_type": "execute_result", "data": {"text/plain": "42"}, "metadata": {}},
        {"output_type": "display_data", "data": {"image/png": "iVBOR"}, "metadata": {}},
    ]
    written = root_conftest.write_executed(run, tmp_path)
    assert written == tmp_path / "notebooks" / "01_attention.ipynb"
    out = nbformat.read(written, as_version=4)
    nbformat.validate(out)
    code = [c for c in out.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, n_code + 1))
    assert code[1].outputs[0].text == "hi\n"
    assert code[2].outputs[0].execution_count == 3 and code[2].outputs[1].data["image/png"]
    assert [c.source for c in out.cells] == [c.source for c in nb.cells]  # sources untouched


@pytest.mark.parametrize(
    ("source", "quiet"),
    [
        ("ax.legend(frameon=False);", True),
        ("fig.colorbar(image, ax=ax);  # hide the repr", True),
        ("plot(\n    x,\n);\n", True),
        ("ax.legend(frameon=False)", False),
        ("x = 1; y = 2\ny", False),
        ("", False),
    ],
)
def test_a_trailing_semicolon_hides_the_value_as_jupyter_does(
    source: str, quiet: bool, tmp_path: Path
) -> None:
    assert root_conftest._quiet(source) is quiet
    path = ROOT / "notebooks" / "01_attention.ipynb"
    nb = nbformat.read(path, as_version=4)
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    run = root_conftest._Run(path, n_code)
    value = {"output_type": "execute_result", "data": {"text/plain": "<Axes: >"}, "metadata": {}}
    run.outputs = {i: [value] for i in range(n_code)}
    out = nbformat.read(root_conftest.write_executed(run, tmp_path), 4)
    code = [c for c in out.cells if c.cell_type == "code"]
    hidden = [len(c.outputs) == 0 for c in code]
    assert hidden == [root_conftest._quiet(c.source) for c in code] and any(hidden)
