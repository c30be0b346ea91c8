"""Interactive explorers that degrade to a static figure where no one can interact.

An executed notebook keeps whatever a cell displayed. A widget displayed during a headless run
(the book build, the tests) is stored as a widget view with a text fallback such as
``VBox(children=(...))``, and the website shows that fallback next to "a Jupyter kernel
connection is required". So every explorer here always draws a static figure first, and adds
its controls only when `widgets_available()` says a person is at the keyboard.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from course_utils.plots import plot_attention

__all__ = ["attention_explorer", "explorer_figure", "widgets_available"]

#: ``attend(text, scaled)`` returns the tokens of ``text`` and attention weights ``(H, T, T)``.
Attend = Callable[[str, bool], tuple[Sequence[str], Any]]

#: Set to ``0`` to force the static figure, ``1`` to force the widgets.
ENV_VAR = "COURSE_WIDGETS"


def widgets_available() -> bool:
    """True inside a Jupyter kernel driven by an interactive frontend, with ipywidgets installed.

    Interactive frontends (JupyterLab, Notebook, VS Code, Colab) send each cell with
    ``allow_stdin=True`` so that ``input()`` works; nbclient (the book build) sends
    ``allow_stdin=False``. ipykernel keeps that flag of the running request as
    ``kernel._allow_stdin``. nbval (the tests) does allow stdin, so a set ``CI`` variable also
    means headless, as it does for the budget. ``COURSE_WIDGETS=0`` or ``1`` overrides both.
    """
    forced = os.environ.get(ENV_VAR)
    if forced not in (None, "", "0", "1"):
        raise ValueError(f"{ENV_VAR} must be 0 or 1, got {forced!r}")
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    if forced:
        return forced == "1"
    if os.environ.get("CI"):
        return False
    kernel = getattr(get_ipython(), "kernel", None)
    return bool(getattr(kernel, "_allow_stdin", False))


def _weights(attend: Attend, text: str, scaled: bool) -> tuple[list[str], Any]:
    tokens, weights = attend(text, scaled)
    if len(getattr(weights, "shape", ())) != 3:
        raise ValueError(
            "attend(text, scaled) must return (tokens, weights of shape (n_heads, T, T)), "
            f"got weights of shape {tuple(getattr(weights, 'shape', ()))}"
        )
    return list(tokens), weights


def _draw(attend: Attend, text: str, head: int, scaled: bool, ax: plt.Axes) -> None:
    tokens, weights = _weights(attend, text, scaled)
    if not 0 <= head < weights.shape[0]:
        raise ValueError(f"head must be in 0..{weights.shape[0] - 1}, got {head}")
    title = f"head {head}, {'scaled' if scaled else 'not scaled'}"
    plot_attention(weights[head], tokens, ax=ax, title=title, vmax=1.0)


def explorer_figure(attend: Attend, text: str, head: int = 0) -> Figure:
    """The static view: one head's map with and without the division by sqrt(d_k), side by side.

    Both panels share the colour scale 0 to 1, so the sharpening is visible at a glance.
    """
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.8), layout="constrained")
    _draw(attend, text, head, True, axes[0])
    _draw(attend, text, head, False, axes[1])
    return fig


def attention_explorer(
    attend: Attend,
    sentences: Mapping[str, str],
    *,
    interactive: bool | None = None,
) -> Figure:
    """Show the static figure for the first sentence, then controls when someone can use them.

    Args:
        attend: ``attend(text, scaled)`` -> ``(tokens, weights)``, weights ``(H, T, T)``.
        sentences: named sentences to choose from; the first one is drawn statically.
        interactive: add the controls (sentence, head, scaling); default `widgets_available()`.

    Returns:
        The static figure (already displayed and closed, so Jupyter does not draw it twice).
    """
    from IPython.display import display

    if not sentences:
        raise ValueError("sentences must hold at least one named sentence")
    names = list(sentences)
    fig = explorer_figure(attend, sentences[names[0]])
    display(fig)
    plt.close(fig)
    if interactive is None:
        interactive = widgets_available()
    if interactive:
        display(_controls(attend, sentences))
    return fig


def _controls(attend: Attend, sentences: Mapping[str, str]) -> Any:
    """The widget box: sentence, head and scaling controls above one redrawn heat map."""
    import ipywidgets as widgets
    from IPython.display import display

    names = list(sentences)
    n_heads = _weights(attend, sentences[names[0]], True)[1].shape[0]
    sentence = widgets.Dropdown(options=names, description="sentence")
    head = widgets.IntSlider(value=0, min=0, max=n_heads - 1, description="head")
    scaled = widgets.Checkbox(value=True, description="divide by sqrt(d_k)")
    canvas = widgets.Output()

    def redraw(change: Any = None) -> None:
        with canvas:
            canvas.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(7, 6), layout="constrained")
            _draw(attend, sentences[sentence.value], head.value, scaled.value, ax)
            display(fig)
            plt.close(fig)

    for control in (sentence, head, scaled):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([sentence, head, scaled]), canvas])
