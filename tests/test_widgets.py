"""Tests for course_utils.widgets: the static figure always, controls only for a live frontend."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import types  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils import widgets  # noqa: E402

SENTENCES = {"short": "dogs bark", "longer": "the cat sat down"}


def attend(text: str, scaled: bool):
    """Two heads of softmax weights; unscaled scores are 4 times larger, hence sharper."""
    tokens = text.split()
    rng = np.random.default_rng(len(tokens))
    scores = rng.normal(size=(2, len(tokens), len(tokens))) * (1.0 if scaled else 4.0)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return tokens, e / e.sum(axis=-1, keepdims=True)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def shown(monkeypatch):
    """Record what attention_explorer displays instead of sending it to a frontend."""
    items: list = []
    monkeypatch.setattr("IPython.display.display", lambda obj, *a, **k: items.append(obj))
    return items


def test_explorer_figure_draws_scaled_and_unscaled_side_by_side():
    fig = widgets.explorer_figure(attend, "the cat sat down")
    maps = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in maps] == ["head 0, scaled", "head 0, not scaled"]
    assert all(ax.images[0].get_clim() == (0.0, 1.0) for ax in maps)
    assert [t.get_text() for t in maps[0].get_xticklabels()] == ["the", "cat", "sat", "down"]
    # the unscaled map is the sharper one: its largest weight is larger
    assert maps[1].images[0].get_array().max() > maps[0].images[0].get_array().max()


def test_static_fallback_displays_only_the_figure(shown):
    fig = widgets.attention_explorer(attend, SENTENCES, interactive=False)
    assert shown == [fig] and isinstance(fig, Figure)
    assert not plt.get_fignums()  # closed, so Jupyter does not draw it a second time


def test_interactive_adds_controls_that_redraw(shown):
    ipywidgets = pytest.importorskip("ipywidgets")
    widgets.attention_explorer(attend, SENTENCES, interactive=True)
    # the static figure, the first map drawn into the widget's canvas, then the widget box
    assert [type(x) for x in shown] == [Figure, Figure, ipywidgets.VBox]
    sentence, head, scaled = shown[-1].children[0].children
    assert list(sentence.options) == list(SENTENCES) and (head.min, head.max) == (0, 1)
    head.value, scaled.value, sentence.value = 1, False, "longer"  # each change redraws
    redrawn = [x for x in shown[3:] if isinstance(x, Figure)]
    assert [fig.axes[0].get_title() for fig in redrawn] == [
        "head 1, scaled",
        "head 1, not scaled",
        "head 1, not scaled",
    ]
    assert [t.get_text() for t in redrawn[-1].axes[0].get_xticklabels()] == SENTENCES[
        "longer"
    ].split()
    assert not plt.get_fignums()


def test_bad_input_gets_clear_messages(shown):
    with pytest.raises(ValueError, match="at least one named sentence"):
        widgets.attention_explorer(attend, {}, interactive=False)
    with pytest.raises(ValueError, match=r"weights of shape \(n_heads, T, T\)"):
        widgets.explorer_figure(lambda text, scaled: (text.split(), np.ones((2, 2))), "a b")
    with pytest.raises(ValueError, match="head must be in 0..1"):
        widgets.explorer_figure(attend, "a b", head=2)


LIVE = types.SimpleNamespace(_allow_stdin=True)  # JupyterLab, VS Code, Colab, nbval
HEADLESS = types.SimpleNamespace(_allow_stdin=False)  # nbclient (the book build)


@pytest.mark.parametrize(
    ("kernel", "env", "ci", "expected"),
    [
        (None, None, None, False),  # plain Python or a terminal IPython: no frontend
        (HEADLESS, None, None, False),
        (LIVE, None, None, True),
        (LIVE, None, "true", False),  # CI: nbval allows stdin, but no one is watching
        (LIVE, "0", None, False),
        (None, "1", "true", True),
    ],
)
def test_widgets_available(monkeypatch, kernel, env, ci, expected):
    pytest.importorskip("ipywidgets")
    shell = types.SimpleNamespace(kernel=kernel) if kernel else None
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)
    for name, value in ((widgets.ENV_VAR, env), ("CI", ci)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert widgets.widgets_available() is expected


def test_widgets_available_rejects_a_bad_override(monkeypatch):
    monkeypatch.setenv(widgets.ENV_VAR, "yes")
    with pytest.raises(ValueError, match="must be 0 or 1"):
        widgets.widgets_available()


def test_headless_execution_stores_no_widget_output(monkeypatch):
    """What the book build does: execute with nbclient, then look at the stored outputs."""
    from nbclient import NotebookClient

    monkeypatch.delenv(widgets.ENV_VAR, raising=False)
    monkeypatch.delenv("CI", raising=False)  # nbclient's allow_stdin=False alone must suffice
    monkeypatch.delenv("MPLBACKEND", raising=False)  # inline backend, as in the build
    code = (
        "import numpy as np\n"
        "from course_utils.widgets import attention_explorer\n"
        "def attend(text, scaled):\n"
        "    t = text.split()\n"
        "    return t, np.full((2, len(t), len(t)), 1 / len(t))\n"
        "attention_explorer(attend, {'a': 'dogs bark'});"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    kinds = [sorted(out.get("data", {})) for out in outputs]
    assert kinds == [["image/png", "text/plain"]], outputs
    text = nbformat.writes(nb)
    for bad in ("widget-view", "VBox(", "HBox(", "kernel connection"):
        assert bad not in text
