"""Sentence and token embeddings from any course or Hub encoder, and how to measure them.

An *embedding* here is a hidden state: the output of one layer of the encoder
(`output_hidden_states=True` returns the input embeddings plus one tensor per layer). A sentence
vector pools those token vectors: the first position (`[CLS]` / `<s>`), the mean over the real
tokens (the attention mask excludes padding), or the maximum; "last4" first averages the last
four layers. `encode` does one forward pass per batch with dynamic padding (each batch padded to
its longest sentence, sentences sorted by length so that batches waste little) and returns every
requested (pooling, layer) at once. `sts_spearman` scores vectors on STS-B as Reimers & Gurevych
(2019) did: Spearman correlation between cosine similarity and the gold scores.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from course_utils.errors import CourseError

POOLINGS = ("cls", "mean", "max")
Pooling = Literal["cls", "mean", "max"]
Layer = int | Literal["last4"]
#: The offline-capable encoders: the real MiniLM in the Hub cache and the course checkpoints.
OFFLINE_ENCODERS = ("all-MiniLM-L6-v2", "course-bert-small", "course-roberta-small")
#: Real base checkpoints (pinned in config.HUB_MODELS), used when the Hub is reachable.
BASE_ENCODERS = (
    "bert-base-uncased",
    "roberta-base",
    "albert-base-v2",
    "electra-small-discriminator",
)


# ---------------------------------------------------------------------------------------------
# Loading


@dataclass
class Encoder:
    """An encoder model with its tokenizer and one honest line about what it is."""

    name: str
    model: Any
    tokenizer: Any
    description: str
    source: str  # "hub", "cache" or "course-checkpoint"
    loading_info: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def n_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def max_length(self) -> int:
        """Longest input the position table allows (RoBERTa's table has 2 extra rows)."""
        positions = int(self.model.config.max_position_embeddings)
        if self.model.config.model_type in ("roberta", "camembert", "xlm-roberta"):
            positions -= 2  # positions start after the padding index (pad_token_id + 1)
        return min(positions, 512)


def _hub_description(name: str, source: str) -> str:
    from course_utils.hub import hub_model

    model = hub_model(name)
    where = {"hub": "from the Hub", "cache": "from the local Hub cache"}[source]
    return f"{name}: {model.repo_id}@{model.revision[:8]}\n  {where}"  # 88-character lines


def load_encoder(name: str, device: torch.device | str | None = None) -> Encoder:
    """Load encoder `name` (a course checkpoint or a config.HUB_MODELS key) as a bare AutoModel.

    Prints one line saying exactly which model it is (no machine paths). The model is in eval
    mode. `loading_info` lists weights that the checkpoint did not have (e.g. a pooler that was
    never trained, initialised at random by `from_pretrained`).
    """
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from course_utils.checkpoints import CHECKPOINTS, checkpoint_dir
    from course_utils.hub import hub_model, resolve_model

    quiet = io.StringIO()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the missing-weights report is returned, not printed
    try:
        if name in CHECKPOINTS:
            path = checkpoint_dir(name)
            if not (path / "config.json").is_file():
                raise CourseError(
                    f"Course checkpoint {name} not found.",
                    fix="reinstall the course package, or build it with "
                    "python -m course_utils.checkpoints build all --budget cpu",
                )
            model, info = AutoModel.from_pretrained(path, output_loading_info=True)
            tokenizer = AutoTokenizer.from_pretrained(path)
            n_params = sum(p.numel() for p in model.parameters()) / 1e6
            # two lines of at most 88 characters (the width of the website's output cells)
            description = (
                f"{name}: a small {model.config.model_type.upper()} encoder "
                f"({n_params:.1f}M parameters)\n  pretrained by this course on WikiText-2, "
                "NOT a Hub checkpoint"
            )
            source = "course-checkpoint"
        else:
            hub_model(name)  # a clear error for unknown names
            resolved = resolve_model(name)  # raises a CourseError when it cannot be loaded
            kwargs: dict[str, Any] = {"revision": resolved.revision}
            from course_utils.hub import hub_cache_dir

            kwargs["cache_dir"] = str(hub_cache_dir())
            if resolved.source == "cache":
                kwargs["local_files_only"] = True
            with contextlib.redirect_stdout(quiet):
                model, info = AutoModel.from_pretrained(
                    resolved.repo_id, output_loading_info=True, **kwargs
                )
                tokenizer = AutoTokenizer.from_pretrained(resolved.repo_id, **kwargs)
            description = _hub_description(name, resolved.source)
            source = resolved.source
    finally:
        hf_logging.set_verbosity(verbosity)
    model.eval()
    if device is not None:
        model.to(device)
    print(description)
    return Encoder(name, model, tokenizer, description, source, dict(info))


def hub_encoder_available(name: str) -> bool:
    """True when Hub model `name` can be loaded now (Hub reachable, or its revision cached)."""
    from course_utils.hub import resolve_model

    try:
        resolve_model(name)
    except CourseError:
        return False
    return True


def encoders_for(budget: Any, online: bool) -> list[str]:
    """The encoders a chapter compares: offline ones always, base checkpoints online beyond ci.

    One code path for every setting: the list is the only thing that changes.
    """
    names = list(OFFLINE_ENCODERS)
    if online and getattr(budget, "name", budget) != "ci":
        names += list(BASE_ENCODERS)
    return names


# ---------------------------------------------------------------------------------------------
# Pooling


def _check_mask(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    if hidden.dim() != 3:
        raise ValueError(f"hidden states must be (batch, tokens, dim), got {tuple(hidden.shape)}")
    if tuple(attention_mask.shape) != tuple(hidden.shape[:2]):
        raise ValueError(
            f"attention_mask {tuple(attention_mask.shape)} does not match the hidden states "
            f"{tuple(hidden.shape[:2])} (batch, tokens)"
        )
    return attention_mask.to(hidden.dtype).unsqueeze(-1)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token vectors where attention_mask is 1; an all-padding row gives zeros.

    The same formula as sentence-transformers' Pooling(mode="mean"): sum / clamp(count, 1e-9).
    """
    mask = _check_mask(hidden, attention_mask)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def max_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Element-wise maximum over the real tokens (padding never wins); all-padding rows: zeros."""
    mask = _check_mask(hidden, attention_mask).bool()
    filled = hidden.masked_fill(~mask, torch.finfo(hidden.dtype).min)
    pooled = filled.max(1).values
    return torch.where(mask.any(1), pooled, torch.zeros_like(pooled))


def cls_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The vector at the first real position: [CLS] for BERT, <s> for RoBERTa.

    With right padding that is position 0; with left padding it is the first unmasked one.
    """
    _check_mask(hidden, attention_mask)
    first = attention_mask.long().argmax(1)  # index of the first 1 in each row
    return hidden[torch.arange(hidden.shape[0]), first]


def pool(
    hidden_states: Sequence[torch.Tensor],
    attention_mask: torch.Tensor,
    pooling: str = "mean",
    layer: Layer = -1,
) -> torch.Tensor:
    """One sentence vector per row from `hidden_states` (the tuple the model returns).

    layer: an index into hidden_states (0 = the input embeddings, -1 = the last layer) or
    "last4" for the mean of the last four layers' token vectors.
    """
    if layer == "last4":
        if len(hidden_states) < 5:
            raise ValueError("'last4' needs at least four layers above the embeddings")
        hidden = torch.stack(list(hidden_states[-4:])).mean(0)
    elif isinstance(layer, int) and -len(hidden_states) <= layer < len(hidden_states):
        hidden = hidden_states[layer]
    else:
        raise ValueError(
            f"layer must be 'last4' or an index in [-{len(hidden_states)}, "
            f"{len(hidden_states) - 1}], got {layer!r}"
        )
    poolers = {"cls": cls_pool, "mean": mean_pool, "max": max_pool}
    if pooling not in poolers:
        raise ValueError(f"pooling must be one of {', '.join(poolers)}, got {pooling!r}")
    return poolers[pooling](hidden, attention_mask)


def normalize(vectors: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    return F.normalize(vectors, p=2, dim=-1)


def centre(vectors: torch.Tensor, mean: torch.Tensor | None = None) -> torch.Tensor:
    """Rows minus `mean` (default: their own mean vector), the simplest fix for anisotropy."""
    return vectors - (vectors.mean(0, keepdim=True) if mean is None else mean)


def cosine_matrix(a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """All cosines between the rows of `a` and of `b` (default `a`): normalise, then one matmul."""
    b = a if b is None else b
    return normalize(a.float()) @ normalize(b.float()).T


def paired_cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine of row i of `a` with row i of `b`."""
    return (normalize(a.float()) * normalize(b.float())).sum(-1)


# ---------------------------------------------------------------------------------------------
# Encoding


def _interactive() -> bool:
    """A person is watching: an interactive Jupyter frontend or a terminal."""
    from course_utils.widgets import widgets_available

    return widgets_available() or sys.stderr.isatty()


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices in batches of similar length (longest first), so that little padding is needed."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


@torch.no_grad()
def encode(
    encoder: Encoder,
    texts: Sequence[str],
    poolings: Iterable[str] = ("mean",),
    layers: Iterable[Layer] = (-1,),
    *,
    batch_size: int = 32,
    max_length: int | None = None,
    device: torch.device | str | None = None,
    progress: bool | None = None,
) -> dict[tuple[str, Layer], torch.Tensor]:
    """Sentence vectors for every (pooling, layer) requested, from one forward pass per batch.

    Texts are tokenized once, sorted by length and padded per batch (dynamic padding); the
    result rows follow the order of `texts`. Vectors are float32 on the CPU, not normalised.
    progress: show a progress bar; default only when a person is watching (never on the website).
    """
    texts = list(texts)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError("texts must be a non-empty list of strings")
    poolings, layers = list(poolings), list(layers)
    model, tokenizer = encoder.model, encoder.tokenizer
    device = torch.device(device) if device is not None else next(model.parameters()).device
    max_length = max_length or encoder.max_length
    ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    batches = length_sorted_batches([len(x) for x in ids], batch_size)
    show = _interactive() if progress is None else progress
    if show:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc=f"encoding with {encoder.name}", leave=False)
    out = {(p, layer): torch.empty(0) for p in poolings for layer in layers}
    parts: dict[tuple[str, Layer], list[torch.Tensor]] = {key: [] for key in out}
    order: list[int] = []
    for rows in batches:
        # tokenizer.pad pads to the longest row of this batch only
        batch = tokenizer.pad({"input_ids": [ids[i] for i in rows]}, return_tensors="pt")
        batch = {k: v.to(device) for k, v in batch.items()}
        hidden = model(**batch, output_hidden_states=True).hidden_states
        for key in parts:
            parts[key].append(pool(hidden, batch["attention_mask"], *key).float().cpu())
        order += rows
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.tensor(order)] = torch.arange(len(order))
    return {key: torch.cat(chunks)[inverse] for key, chunks in parts.items()}


def encode_one(encoder: Encoder, texts: Sequence[str], pooling: str = "mean", layer: Layer = -1,
               normalized: bool = False, **kwargs: Any) -> torch.Tensor:  # fmt: skip
    """Vectors of one pooling at one layer, optionally L2-normalised."""
    vectors = encode(encoder, texts, (pooling,), (layer,), **kwargs)[(pooling, layer)]
    return normalize(vectors) if normalized else vectors


@torch.no_grad()
def token_states(encoder: Encoder, text: str) -> tuple[list[str], torch.Tensor]:
    """Tokens of `text` and its hidden states, shape (layers + 1, tokens, dim)."""
    batch = encoder.tokenizer(text, return_tensors="pt").to(next(encoder.model.parameters()).device)
    hidden = encoder.model(**batch, output_hidden_states=True).hidden_states
    tokens = encoder.tokenizer.convert_ids_to_tokens(batch["input_ids"][0])
    return tokens, torch.stack([h[0] for h in hidden]).float().cpu()


# ---------------------------------------------------------------------------------------------
# STS-B evaluation


def sts_spearman(
    vectors_1: torch.Tensor, vectors_2: torch.Tensor, scores: Sequence[float], metric: Any
) -> float:
    """100 x Spearman's rho between the pairs' cosine similarities and the gold scores."""
    cosines = paired_cosine(vectors_1, vectors_2).tolist()
    result = metric.compute(predictions=cosines, references=[float(s) for s in scores])
    return 100 * float(result["spearmanr"])


def sts_grid(
    encoder: Encoder,
    sentences_1: Sequence[str],
    sentences_2: Sequence[str],
    scores: Sequence[float],
    metric: Any,
    poolings: Sequence[str] = POOLINGS,
    layers: Sequence[Layer] | None = None,
    transform: str = "none",
    **kwargs: Any,
) -> Any:
    """A table (rows: layers 0..L and "last4"; columns: poolings) of 100 x Spearman on STS pairs.

    transform: "none", or "centre" (subtract the mean vector of all sentences of the sample).
    Both sides are encoded in one call, so each distinct sentence costs one forward pass.
    """
    import pandas as pd

    if transform not in ("none", "centre"):
        raise ValueError(f"transform must be 'none' or 'centre', got {transform!r}")
    if not len(sentences_1) == len(sentences_2) == len(scores):
        raise ValueError("sentences_1, sentences_2 and scores must have the same length")
    if layers is None:  # every layer, and the last-four mean where there are four layers
        layers = list(range(encoder.n_layers + 1)) + (["last4"] if encoder.n_layers >= 4 else [])
    layers = list(layers)
    vectors = encode(encoder, list(sentences_1) + list(sentences_2), poolings, layers, **kwargs)
    n = len(sentences_1)
    table = {}
    for (pooling, layer), v in vectors.items():
        if transform == "centre":
            v = centre(v)
        table.setdefault(pooling, {})[layer] = sts_spearman(v[:n], v[n:], scores, metric)
    frame = pd.DataFrame(table)[list(poolings)]
    frame.index = [f"layer {x}" if isinstance(x, int) else "mean of last 4" for x in frame.index]
    return frame


# ---------------------------------------------------------------------------------------------
# Anisotropy (Ethayarajh 2019)


@torch.no_grad()
def anisotropy_by_layer(
    encoder: Encoder,
    texts: Sequence[str],
    n_pairs: int = 2000,
    seed: int = 0,
    batch_size: int = 32,
) -> list[float]:
    """Average cosine between the vectors of random token pairs from different sentences, per layer.

    Ethayarajh (2019) uses this as the baseline of "how similar are two unrelated words here":
    in an isotropic space it is near 0. Special tokens and padding are left out.
    """
    model, tokenizer = encoder.model, encoder.tokenizer
    device = next(model.parameters()).device
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)))
    per_layer: list[list[torch.Tensor]] = []
    owners: list[torch.Tensor] = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            list(texts[start : start + batch_size]),
            truncation=True,
            max_length=encoder.max_length,
            padding=True,
            return_tensors="pt",
        ).to(device)
        hidden = model(**batch, output_hidden_states=True).hidden_states
        keep = batch["attention_mask"].bool() & ~torch.isin(batch["input_ids"], special.to(device))
        rows = torch.arange(start, start + keep.shape[0], device=device)[:, None].expand_as(keep)
        owners.append(rows[keep].cpu())
        for i, h in enumerate(hidden):
            if len(per_layer) <= i:
                per_layer.append([])
            per_layer[i].append(h[keep].float().cpu())
    owner = torch.cat(owners)
    generator = torch.Generator().manual_seed(seed)
    a = torch.randint(len(owner), (n_pairs * 2,), generator=generator)
    b = torch.randint(len(owner), (n_pairs * 2,), generator=generator)
    different = owner[a] != owner[b]  # tokens from two different sentences
    a, b = a[different][:n_pairs], b[different][:n_pairs]
    return [float(paired_cosine(torch.cat(v)[a], torch.cat(v)[b]).mean()) for v in per_layer]


# ---------------------------------------------------------------------------------------------
# Semantic search


def top_k(
    queries: torch.Tensor, corpus: torch.Tensor, k: int = 5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact nearest neighbours by cosine: (scores, indices), each (n_queries, k).

    One matrix product of normalised vectors plus torch.topk: exact, and fast up to roughly a
    million vectors; past that an approximate index (FAISS, hnswlib, ...) is the usual tool.
    """
    k = min(k, corpus.shape[0])
    return torch.topk(cosine_matrix(queries, corpus), k, dim=1)


def time_per_query(
    queries: torch.Tensor, corpus: torch.Tensor, k: int = 5, repeats: int = 5
) -> float:
    """Median seconds per query of `top_k` over `repeats` runs (vectors already computed)."""
    corpus_n = normalize(corpus.float())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.topk(normalize(queries.float()) @ corpus_n.T, min(k, corpus.shape[0]), dim=1)
        times.append((time.perf_counter() - start) / queries.shape[0])
    return float(np.median(times))


# ---------------------------------------------------------------------------------------------
# 2-D projection with an explorer


def pca_2d(vectors: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The vectors projected on their first two principal components, and the variance ratios."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=0)
    points = pca.fit_transform(vectors.float().numpy())
    return points, pca.explained_variance_ratio_


def plot_projection(
    points: np.ndarray,
    labels: Sequence[int],
    label_names: Sequence[str],
    title: str,
    ax: Any = None,
    highlight: int | None = None,
) -> Any:
    """Scatter of 2-D points coloured by label; `highlight` circles one point. Returns the Axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 5.5), layout="constrained")
    labels = np.asarray(labels)
    for value, name in enumerate(label_names):
        chosen = labels == value
        ax.scatter(points[chosen, 0], points[chosen, 1], s=10, alpha=0.6, label=name)
    if highlight is not None:
        ax.scatter(*points[highlight], s=160, facecolors="none", edgecolors="black", linewidths=2)
    ax.set_xlabel("principal component 1")
    ax.set_ylabel("principal component 2")
    ax.set_title(title)
    ax.legend(loc="best")
    return ax


def projection_explorer(
    projections: dict[str, tuple[np.ndarray, np.ndarray]],
    labels: Sequence[int],
    label_names: Sequence[str],
    texts: Sequence[str],
    *,
    interactive: bool | None = None,
) -> Any:
    """Static figure of every projection side by side, then controls when someone can use them.

    projections: name -> (points (n, 2), explained variance ratios). The controls pick one
    projection and one sentence (shown circled with its text). Without an interactive frontend
    (the website, the tests) only the static figure is shown, never a widget view.
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    from course_utils.widgets import widgets_available

    if not projections:
        raise ValueError("projections must hold at least one named projection")
    names = list(projections)
    fig, axes = plt.subplots(
        1, len(names), figsize=(5.5 * len(names), 5), layout="constrained", squeeze=False
    )
    for ax, name in zip(axes[0], names, strict=True):
        points, ratio = projections[name]
        plot_projection(points, labels, label_names, f"{name} ({ratio.sum():.0%} var.)", ax=ax)
    display(fig)
    plt.close(fig)
    if interactive is None:
        interactive = widgets_available()
    if not interactive:
        return fig
    import ipywidgets as widgets

    which = widgets.Dropdown(options=names, description="model")
    index = widgets.IntSlider(value=0, min=0, max=len(texts) - 1, description="sentence")
    canvas = widgets.Output()

    def redraw(change: Any = None) -> None:
        with canvas:
            canvas.clear_output(wait=True)
            f, ax = plt.subplots(figsize=(6.5, 5.5), layout="constrained")
            points, _ = projections[which.value]
            i = index.value
            title = f"{label_names[int(labels[i])]}: {texts[i][:60]}"
            plot_projection(points, labels, label_names, title, ax=ax, highlight=i)
            display(f)
            plt.close(f)

    for control in (which, index):
        control.observe(redraw, names="value")
    redraw()
    display(widgets.VBox([widgets.HBox([which, index]), canvas]))
    return fig


# ---------------------------------------------------------------------------------------------
# Frozen features + a trained classifier


def probe_accuracy(
    train_features: Any,
    train_labels: Sequence[int],
    test_features: Any,
    test_labels: Sequence[int],
    seed: int = 0,
) -> float:
    """Test accuracy of a logistic regression trained on frozen features (standardised first).

    The encoder stays frozen; only the linear classifier learns, as in SentEval's transfer
    tasks (Reimers & Gurevych 2019, Table 5, also use logistic regression on frozen vectors).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def as_array(x: Any) -> np.ndarray:
        return x.float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=float)

    classifier = make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed)
    )
    classifier.fit(as_array(train_features), np.asarray(train_labels))
    return float(classifier.score(as_array(test_features), np.asarray(test_labels)))


def bag_of_words_accuracy(
    train_texts: Sequence[str],
    train_labels: Sequence[int],
    test_texts: Sequence[str],
    test_labels: Sequence[int],
    seed: int = 0,
) -> float:
    """The baseline without any encoder: TF-IDF of words and word pairs, logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    classifier = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True),
        LogisticRegression(max_iter=2000, C=10.0, random_state=seed),
    )
    classifier.fit(list(train_texts), np.asarray(train_labels))
    return float(classifier.score(list(test_texts), np.asarray(test_labels)))


def token_id_matrix(tokenizer: Any, texts: Sequence[str], length: int = 32) -> np.ndarray:
    """Token ids padded/cut to `length` columns: what "token ids as features" means (a mistake)."""
    ids = tokenizer(list(texts), truncation=True, max_length=length, padding="max_length")[
        "input_ids"
    ]
    return np.asarray(ids, dtype=float)
