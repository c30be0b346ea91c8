"""Build otter's output once per test session, and build (bad) submissions from notebooks."""

from __future__ import annotations

import copy
import functools
import json
import tempfile
from pathlib import Path
from typing import Any

import nbformat
from otter.nbmeta_config import NBMetadataConfig
from otter.test_files import TestFile, create_test_file

from course_utils import exercises

ANSWER_TAG = "otter_answer_cell"
_WORKDIRS: list[tempfile.TemporaryDirectory] = []  # kept alive until the session ends


@functools.cache
def assign_output(chapter: str) -> exercises.AssignOutput:
    """Otter assign's output for `chapter`, built once per test session."""
    workdir = tempfile.TemporaryDirectory(prefix=f"test-assign-{chapter}-")
    _WORKDIRS.append(workdir)
    return exercises.run_otter_assign(exercises.source_path(chapter), Path(workdir.name))


def load_tests(chapter: str) -> dict[str, Path]:
    """Question name -> test file with public and hidden tests."""
    folder = assign_output(chapter).all_tests
    return {p.stem: p for p in sorted(folder.glob("*.py"))}


def run_question(test_file: Path, env: dict[str, Any]) -> TestFile:
    """Run one question's public and hidden tests against `env` in this process."""
    test = create_test_file(str(test_file), NBMetadataConfig())
    test.run(env)
    return test


def is_check_or_setup(cell: nbformat.NotebookNode) -> bool:
    tags = set(cell.metadata.get("tags", []))
    return bool(tags & {"colab-install", exercises.SETUP_TAG}) or cell.source.startswith("grader.")


def notebook_namespace(path: Path) -> dict[str, Any]:
    """Globals after running the notebook's own code cells (not install, grader or check cells)."""
    namespace: dict[str, Any] = {"__name__": "__notebook__"}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code" and not is_check_or_setup(cell):
            exec(compile(cell.source, str(path), "exec"), namespace)
    return namespace


def answer_index(nb: nbformat.NotebookNode, function: str) -> int:
    """Index of the answer cell that defines `function`."""
    found = [
        i
        for i, c in enumerate(nb.cells)
        if ANSWER_TAG in c.metadata.get("tags", []) and f"def {function}(" in c.source
    ]
    if len(found) != 1:
        raise LookupError(f"{len(found)} answer cells define {function}")
    return found[0]


def with_answer(nb: nbformat.NotebookNode, function: str, source: str) -> nbformat.NotebookNode:
    """A copy of `nb` whose answer cell defining `function` holds `source` instead."""
    nb = copy.deepcopy(nb)
    nb.cells[answer_index(nb, function)].source = source
    return nb


def without_cells(nb: nbformat.NotebookNode, *indices: int) -> nbformat.NotebookNode:
    """A copy of `nb` without the cells at `indices` (what a learner deleting cells does)."""
    nb = copy.deepcopy(nb)
    nb.cells = [c for i, c in enumerate(nb.cells) if i not in set(indices)]
    return nb


def check_cell_index(nb: nbformat.NotebookNode, question: str) -> int:
    found = [i for i, c in enumerate(nb.cells) if c.source == f'grader.check("{question}")']
    if len(found) != 1:
        raise LookupError(f"{len(found)} check cells for {question}")
    return found[0]


def setup_cell_index(nb: nbformat.NotebookNode) -> int:
    found = [i for i, c in enumerate(nb.cells) if exercises.SETUP_TAG in c.metadata.get("tags", [])]
    if len(found) != 1:
        raise LookupError(f"{len(found)} grader setup cells")
    return found[0]


def question_points(chapter: str) -> dict[str, float]:
    """Question name -> points possible (public + hidden test cases)."""
    return {
        question: create_test_file(str(path), NBMetadataConfig()).possible
        for question, path in load_tests(chapter).items()
    }


def write_as_colab_download(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write `nb` the way Colab's "Download .ipynb" does: Colab's own metadata, no cell ids."""
    data = json.loads(nbformat.writes(nb))
    data["metadata"] = {
        "colab": {"provenance": []},
        "kernelspec": {"display_name": "Python 3", "name": "python3"},
        "language_info": {"name": "python"},
    }
    data["nbformat_minor"] = 0
    for cell in data["cells"]:
        cell.pop("id", None)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


class _LoopbackSandbox:
    """The sandbox's side of a call, in this process: the arguments and the result cross the
    same plain-data encoding (framed, then decoded) as between the grader and a real sandbox."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace

    def request(self, header, tensors, seconds):
        from course_utils.sandbox_worker import _call

        header, tensors = _frame(header, tensors)
        reply, out = _call(self.namespace, header, tensors)
        return _frame(reply, out)


def _frame(header, tensors):
    from course_utils import sandbox_codec as codec

    data = codec.pack(header, tensors)
    body_size, blob_size = codec._HEADER.unpack(data[: codec._HEADER.size])
    body = data[codec._HEADER.size : codec._HEADER.size + body_size]
    return codec.unpack(body, data[codec._HEADER.size + body_size :])


def loopback_env(env: dict[str, Any]) -> dict[str, Any]:
    """`env` with every callable replaced by the grader's RemoteFunction for it, served in this
    process (no jail, no time limit): what the grader's checks see of each function."""
    import time

    from course_utils.sandbox import Limits, RemoteFunction, Session

    session = Session(cells=[], limits=Limits(), deadline=time.monotonic() + 3600)
    session.sandbox = _LoopbackSandbox(env)  # type: ignore[assignment]
    session.sandbox.alive = True  # type: ignore[attr-defined]
    session.begin_question()
    session.question_left = float("inf")
    return {
        name: RemoteFunction(session, name, list(_params(value))) if callable(value) else value
        for name, value in env.items()
    }


def _params(function: Any) -> list[str]:
    import inspect

    try:
        return list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return []
