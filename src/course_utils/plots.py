"""Plot helpers shared by the chapters: attention heat maps and training curves.

Every helper draws with matplotlib's object-oriented API and returns what it drew on
(an ``Axes`` or a ``Figure``), so a notebook can keep decorating the result. None of them
calls ``plt.show()``: in Jupyter the figure appears at the end of the cell, and in scripts
or tests the caller decides what to do with it.

Weights may be NumPy arrays, nested lists or PyTorch tensors (on any device, any dtype);
they are copied to float NumPy arrays before drawing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

__all__ = ["plot_attention", "plot_attention_heads", "plot_curves"]

#: Font sizes chosen to stay legible when a figure is shrunk to the width of a web page.
TITLE_SIZE = 13
LABEL_SIZE = 11
TICK_SIZE = 10
CMAP = "viridis"


def _as_array(weights: Any, name: str = "weights") -> np.ndarray:
    """Return ``weights`` as a float64 NumPy array (accepts tensors, arrays and lists)."""
    if hasattr(weights, "detach"):  # a torch.Tensor; avoid importing torch here
        weights = weights.detach().to("cpu").float().numpy()
    try:
        array = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{name} must be numeric and array-like, got {type(weights).__name__}"
        ) from err
    return array


def _tick_size(n_labels: int) -> float:
    """Shrink tick labels gently when there are many tokens."""
    if n_labels <= 12:
        return TICK_SIZE
    return max(6.0, TICK_SIZE - (n_labels - 12) * 0.25)


def _draw_heatmap(
    ax: Axes,
    weights: np.ndarray,
    x_labels: Sequence[str],
    y_labels: Sequence[str],
    *,
    vmin: float | None,
    vmax: float | None,
    cmap: str,
    annotate: bool,
    show_ylabels: bool = True,
) -> AxesImage:
    image = ax.imshow(
        weights, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest"
    )
    n_rows, n_cols = weights.shape
    ax.set_xticks(range(n_cols), labels=[str(t) for t in x_labels])
    ax.set_yticks(range(n_rows), labels=[str(t) for t in y_labels] if show_ylabels else [])
    ax.tick_params(axis="x", labelsize=_tick_size(n_cols), labelrotation=60)
    ax.tick_params(axis="y", labelsize=_tick_size(n_rows))
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
        label.set_rotation_mode("anchor")
    if annotate:
        lo, hi = image.get_clim()
        middle = (lo + hi) / 2
        for i in range(n_rows):
            for j in range(n_cols):
                value = weights[i, j]
                ax.text(
                    j,
                    i,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize=_tick_size(max(n_rows, n_cols)) - 1,
                    color="black" if value > middle else "white",
                )
    return image


def plot_attention(
    weights: Any,
    x_labels: Sequence[str],
    y_labels: Sequence[str] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    *,
    vmin: float | None = 0.0,
    vmax: float | None = None,
    cmap: str = CMAP,
    annotate: bool = False,
) -> Axes:
    """Draw one attention matrix as a heat map with token labels and a colour bar.

    Args:
        weights: array of shape ``(n_queries, n_keys)``; row ``i`` holds how much query ``i``
            attends to each key.
        x_labels: one label per key (columns, along the x axis).
        y_labels: one label per query (rows); defaults to ``x_labels`` (self-attention).
        ax: axes to draw on; a new figure is created when omitted.
        title: optional title.
        vmin, vmax: colour range; by default 0 to the largest weight. Pass ``vmax=1`` to
            compare several maps on the same scale.
        cmap: matplotlib colour map name.
        annotate: write each weight (two decimals) in its cell; useful for small matrices.

    Returns:
        The ``Axes`` holding the heat map.

    Raises:
        ValueError: if ``weights`` is not 2-D or the label counts do not match its shape.
    """
    array = _as_array(weights)
    if array.ndim != 2:
        raise ValueError(
            "plot_attention expects a 2-D weights array (n_queries, n_keys), "
            f"got shape {tuple(array.shape)}"
        )
    n_queries, n_keys = array.shape
    if y_labels is None:
        y_labels = x_labels
    if len(x_labels) != n_keys:
        raise ValueError(
            f"x_labels has {len(x_labels)} labels but weights has {n_keys} key columns"
        )
    if len(y_labels) != n_queries:
        raise ValueError(
            f"y_labels has {len(y_labels)} labels but weights has {n_queries} query rows"
        )

    if ax is None:
        size = min(9.0, 2.5 + 0.4 * max(n_queries, n_keys))
        _, ax = plt.subplots(figsize=(size + 1.0, size), layout="constrained")
    image = _draw_heatmap(
        ax, array, x_labels, y_labels, vmin=vmin, vmax=vmax, cmap=cmap, annotate=annotate
    )
    colorbar = ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    colorbar.ax.tick_params(labelsize=TICK_SIZE)
    colorbar.set_label("attention weight", fontsize=LABEL_SIZE)
    ax.set_xlabel("key (attended to)", fontsize=LABEL_SIZE)
    ax.set_ylabel("query (attending)", fontsize=LABEL_SIZE)
    if title:
        ax.set_title(title, fontsize=TITLE_SIZE)
    return ax


def plot_attention_heads(
    weights: Any,
    tokens: Sequence[str],
    ncols: int = 4,
    title: str | None = None,
    *,
    vmax: float | None = None,
    cmap: str = CMAP,
) -> Figure:
    """Draw the attention maps of several heads side by side, on one shared colour scale.

    Args:
        weights: array of shape ``(n_heads, T, T)`` (self-attention of one sequence).
        tokens: the ``T`` token strings, used for both axes.
        ncols: number of heads per row of the grid.
        title: optional title for the whole figure.
        vmax: top of the shared colour scale; defaults to the largest weight over all heads.
        cmap: matplotlib colour map name.

    Returns:
        The ``Figure``; its first ``n_heads`` axes hold the heads in order.

    Raises:
        ValueError: if ``weights`` is not ``(H, T, T)``, ``tokens`` does not have ``T`` entries
            or ``ncols`` is not a positive integer.
    """
    array = _as_array(weights)
    if array.ndim != 3:
        raise ValueError(
            "plot_attention_heads expects weights of shape (n_heads, T, T), "
            f"got shape {tuple(array.shape)}"
        )
    n_heads, n_queries, n_keys = array.shape
    if n_queries != n_keys:
        raise ValueError(
            f"plot_attention_heads expects square (T, T) maps per head, got {n_queries} x {n_keys}"
        )
    if len(tokens) != n_keys:
        raise ValueError(
            f"tokens has {len(tokens)} entries but the attention maps are {n_keys} x {n_keys}"
        )
    if n_heads == 0:
        raise ValueError("plot_attention_heads needs at least one head, got 0")
    if not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols!r}")

    ncols = min(ncols, n_heads)
    nrows = math.ceil(n_heads / ncols)
    cell = min(3.6, 1.6 + 0.18 * n_keys)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(cell * ncols + 1.2, cell * nrows + (0.5 if title else 0.2)),
        squeeze=False,
        layout="constrained",
    )
    top = float(array.max()) if vmax is None else vmax
    image = None
    for head, ax in enumerate(axes.flat):
        if head >= n_heads:
            ax.set_axis_off()
            continue
        image = _draw_heatmap(
            ax,
            array[head],
            tokens,
            tokens,
            vmin=0.0,
            vmax=top,
            cmap=cmap,
            annotate=False,
            show_ylabels=head % ncols == 0,
        )
        ax.set_title(f"head {head}", fontsize=LABEL_SIZE)
    colorbar = fig.colorbar(image, ax=axes, shrink=0.8)
    colorbar.ax.tick_params(labelsize=TICK_SIZE)
    colorbar.set_label("attention weight", fontsize=LABEL_SIZE)
    if title:
        fig.suptitle(title, fontsize=TITLE_SIZE)
    return fig


def _as_xy(name: str, values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Turn ``[y0, y1, ...]`` or ``[(x0, y0), (x1, y1), ...]`` into x and y arrays."""
    if isinstance(values, (str, bytes, Mapping)):
        raise ValueError(
            f"history[{name!r}] must be a list of numbers, got {type(values).__name__}"
        )
    array = _as_array(values, name=f"history[{name!r}]")
    if array.ndim == 0:
        raise ValueError(f"history[{name!r}] must be a list of numbers, got a single number")
    if array.size == 0:
        raise ValueError(f"history[{name!r}] is empty; there is nothing to plot")
    if array.ndim == 1:
        return np.arange(len(array)), array
    if array.ndim == 2 and array.shape[1] == 2:
        return array[:, 0], array[:, 1]
    raise ValueError(
        f"history[{name!r}] must be a list of numbers or of (x, y) pairs, "
        f"got shape {tuple(array.shape)}"
    )


def plot_curves(
    history: Mapping[str, Sequence[float]],
    xlabel: str = "step",
    ax: Axes | None = None,
    title: str | None = None,
    *,
    ylabel: str | None = None,
    logy: bool = False,
) -> Axes:
    """Plot training curves (or any named series) on one set of axes, one line per key.

    Args:
        history: maps a series name (``"train loss"``) to its values. A plain list of numbers
            is drawn against its index 0, 1, 2, ...; a list of ``(x, y)`` pairs is drawn at
            those x positions, which lets series logged at different intervals (a loss every
            step, an evaluation every epoch) share the axes.
        xlabel: label of the x axis.
        ax: axes to draw on; a new figure is created when omitted.
        title: optional title.
        ylabel: optional label of the y axis.
        logy: use a logarithmic y axis.

    Returns:
        The ``Axes``; each series is a line whose label is its key.

    Raises:
        ValueError: if ``history`` is empty or a series is empty or badly shaped.
    """
    if not isinstance(history, Mapping) or len(history) == 0:
        raise ValueError(
            "history must be a non-empty dict mapping series names to lists of numbers"
        )
    series = {str(name): _as_xy(str(name), values) for name, values in history.items()}

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.0), layout="constrained")
    for name, (x, y) in series.items():
        marker = "o" if len(y) <= 30 else None
        ax.plot(x, y, label=name, marker=marker, markersize=4, linewidth=1.8)
    ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    if logy:
        ax.set_yscale("log")
    ax.tick_params(labelsize=TICK_SIZE)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=TICK_SIZE, frameon=False)
    if title:
        ax.set_title(title, fontsize=TITLE_SIZE)
    return ax
