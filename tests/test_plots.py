"""Tests for course_utils.plots (headless: Agg backend, no display needed)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils.plots import plot_attention, plot_attention_heads, plot_curves  # noqa: E402

TOKENS = ["the", "cat", "sat", "down"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _softmax_rows(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _weights(*shape: int) -> np.ndarray:
    return _softmax_rows(np.random.default_rng(0).normal(size=shape))


def _tick_texts(labels) -> list[str]:
    return [label.get_text() for label in labels]


# --- plot_attention ---------------------------------------------------------------------------


def test_plot_attention_returns_axes_with_labels_title_and_colorbar():
    ax = plot_attention(_weights(4, 4), TOKENS, title="one head")
    assert isinstance(ax, Axes)
    assert _tick_texts(ax.get_xticklabels()) == TOKENS
    assert _tick_texts(ax.get_yticklabels()) == TOKENS  # y labels default to x labels
    assert ax.get_title() == "one head"
    assert ax.get_xlabel() and ax.get_ylabel()
    assert len(ax.figure.axes) == 2  # the heat map and its colour bar
    assert ax.images[0].get_array().shape == (4, 4)


def test_plot_attention_draws_on_given_axes_with_distinct_query_labels():
    fig, ax = plt.subplots()
    queries = ["q0", "q1"]
    out = plot_attention(_weights(2, 4), TOKENS, y_labels=queries, ax=ax)
    assert out is ax
    assert out.figure is fig
    assert _tick_texts(ax.get_yticklabels()) == queries
    assert _tick_texts(ax.get_xticklabels()) == TOKENS


def test_plot_attention_accepts_torch_tensors_and_annotates():
    torch = pytest.importorskip("torch")
    weights = torch.softmax(torch.randn(3, 3, requires_grad=True), dim=-1)
    ax = plot_attention(weights, TOKENS[:3], annotate=True)
    assert len(ax.texts) == 9
    assert all(len(text.get_text()) == 4 for text in ax.texts)  # "0.37"


def test_plot_attention_colour_range():
    ax = plot_attention(_weights(4, 4), TOKENS, vmax=1.0)
    assert ax.images[0].get_clim() == (0.0, 1.0)


@pytest.mark.parametrize("shape", [(4,), (1, 4, 4)])
def test_plot_attention_rejects_non_2d(shape):
    with pytest.raises(ValueError, match="2-D weights"):
        plot_attention(np.ones(shape) / 4, TOKENS)


def test_plot_attention_rejects_wrong_label_counts():
    with pytest.raises(ValueError, match="x_labels has 3 labels but weights has 4 key columns"):
        plot_attention(_weights(4, 4), TOKENS[:3])
    with pytest.raises(ValueError, match="y_labels has 4 labels but weights has 2 query rows"):
        plot_attention(_weights(2, 4), TOKENS, y_labels=TOKENS)


# --- plot_attention_heads ---------------------------------------------------------------------


def test_plot_attention_heads_grid_titles_and_shared_scale():
    weights = _weights(6, 4, 4)
    fig = plot_attention_heads(weights, TOKENS, ncols=4, title="six heads")
    assert isinstance(fig, Figure)
    heat_axes = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in heat_axes] == [f"head {h}" for h in range(6)]
    hidden = [ax for ax in fig.axes if not ax.images and not ax.axison]
    assert len(hidden) == 2  # a 2 x 4 grid holds 6 heads and 2 empty cells
    assert fig.get_suptitle() == "six heads"
    assert all(_tick_texts(ax.get_xticklabels()) == TOKENS for ax in heat_axes)
    climits = {ax.images[0].get_clim() for ax in heat_axes}
    assert len(climits) == 1
    assert climits.pop() == pytest.approx((0.0, weights.max()))


def test_plot_attention_heads_fewer_heads_than_columns():
    fig = plot_attention_heads(_weights(2, 4, 4), TOKENS, ncols=4)
    assert len([ax for ax in fig.axes if ax.images]) == 2
    assert len([ax for ax in fig.axes if not ax.images and not ax.axison]) == 0


@pytest.mark.parametrize(
    ("shape", "message"),
    [((4, 4), r"shape \(n_heads, T, T\)"), ((2, 3, 4), "square"), ((0, 4, 4), "at least one head")],
)
def test_plot_attention_heads_rejects_bad_shapes(shape, message):
    with pytest.raises(ValueError, match=message):
        plot_attention_heads(np.ones(shape) / shape[-1], TOKENS)


def test_plot_attention_heads_rejects_bad_tokens_and_ncols():
    with pytest.raises(ValueError, match="tokens has 3 entries"):
        plot_attention_heads(_weights(2, 4, 4), TOKENS[:3])
    with pytest.raises(ValueError, match="ncols must be a positive integer"):
        plot_attention_heads(_weights(2, 4, 4), TOKENS, ncols=0)


# --- plot_curves -------------------------------------------------------------------------------


def test_plot_curves_one_line_per_series():
    history = {"train loss": [3.0, 2.5, 2.1, 1.9], "valid loss": [3.1, 2.7, 2.4, 2.3]}
    ax = plot_curves(history, title="loss")
    assert isinstance(ax, Axes)
    assert [line.get_label() for line in ax.get_lines()] == list(history)
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [0, 1, 2, 3])
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), history["valid loss"])
    assert ax.get_xlabel() == "step"
    assert ax.get_title() == "loss"
    assert ax.get_legend() is not None


def test_plot_curves_xy_pairs_given_axes_and_log_scale():
    fig, ax = plt.subplots()
    history = {"train": [1.0, 0.5, 0.25, 0.125], "eval": [(0, 1.1), (3, 0.3)]}
    out = plot_curves(history, xlabel="epoch", ax=ax, ylabel="loss", logy=True)
    assert out is ax
    np.testing.assert_array_equal(ax.get_lines()[1].get_xdata(), [0, 3])
    assert ax.get_xlabel() == "epoch"
    assert ax.get_ylabel() == "loss"
    assert ax.get_yscale() == "log"


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ({}, "non-empty dict"),
        ([1.0, 2.0], "non-empty dict"),
        ({"loss": []}, "empty"),
        ({"loss": 1.0}, "single number"),
        ({"loss": "abc"}, "list of numbers"),
        ({"loss": [[1.0, 2.0, 3.0]]}, r"\(x, y\) pairs"),
    ],
)
def test_plot_curves_rejects_bad_history(history, message):
    with pytest.raises(ValueError, match=message):
        plot_curves(history)
