"""ALBERT, A Lite BERT (Lan et al. 2020, arXiv:1909.11942): the three changes, counted and built.

1. Factorized embedding: a V x E table and an E x H projection (V*E + E*H) instead of V x H.
2. Cross-layer parameter sharing: the L layers reuse one set of weights (all-shared by default;
   the paper also tries sharing only the attention or only the feed-forward block, Table 4).
3. Sentence-order prediction (SOP) instead of BERT's next-sentence prediction (NSP).

`count_parameters` gives the parameter count of any BERT or ALBERT config by formula;
`build_encoder` builds the transformers model, including the attention-only and FFN-only sharing
that `AlbertConfig` cannot express (submodules tied across layers); tests/test_albert.py checks
that both agree with `sum(p.numel())`. `sop_pairs` and `nsp_pairs` build the two sentence
objectives' examples from documents; `PairCollator` and `mlm_and_order_loss` plug them into the
course's pretraining loop (`mlm.train_mlm(..., loss_fn=mlm_and_order_loss)`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AlbertConfig, AlbertModel, BertConfig, BertModel

from course_utils.budget import Budget
from course_utils.masking import IGNORE_INDEX, mask_tokens
from course_utils.mlm import MLMOutput, encoder_sizes

# ---------------------------------------------------------------- configs

#: albert-base-v2's config.json (albert/albert-base-v2 at the revision pinned in
#: config.HUB_MODELS; values also in the ALBERT README and ../shared/FACTS.md), kept here so that
#: the chapter can count and build the architecture offline, without the Hub.
ALBERT_BASE_V2: dict[str, Any] = dict(
    vocab_size=30000,
    embedding_size=128,
    hidden_size=768,
    num_hidden_layers=12,
    num_hidden_groups=1,
    inner_group_num=1,
    num_attention_heads=12,
    intermediate_size=3072,
    hidden_act="gelu_new",
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
    max_position_embeddings=512,
    type_vocab_size=2,
    layer_norm_eps=1e-12,
    pad_token_id=0,
    bos_token_id=2,
    eos_token_id=3,
)

#: Lan et al. 2020, Table 1: the shapes (L, H, E) of the models compared, with the paper's
#: rounded parameter counts. FFN = 4H and heads = H/64 as in the released configs. BERT's
#: vocabulary is 30,522 WordPieces, ALBERT's 30,000 SentencePieces.
PAPER_TABLE1: dict[str, dict[str, Any]] = {
    "BERT-base": dict(family="bert", layers=12, hidden=768, embedding=768, paper_params=108e6),
    "BERT-large": dict(family="bert", layers=24, hidden=1024, embedding=1024, paper_params=334e6),
    "ALBERT-base": dict(family="albert", layers=12, hidden=768, embedding=128, paper_params=12e6),
    "ALBERT-large": dict(family="albert", layers=24, hidden=1024, embedding=128, paper_params=18e6),
    "ALBERT-xlarge": dict(
        family="albert", layers=24, hidden=2048, embedding=128, paper_params=60e6
    ),
    "ALBERT-xxlarge": dict(
        family="albert", layers=12, hidden=4096, embedding=128, paper_params=235e6
    ),
}

#: Lan et al. 2020, Table 4: ALBERT-base (L12, H768) with E = 768 or 128 and four sharing
#: strategies; the paper's rounded parameter counts.
PAPER_TABLE4: dict[tuple[int, str], float] = {
    (768, "all"): 31e6,
    (768, "attention"): 83e6,
    (768, "ffn"): 57e6,
    (768, "none"): 108e6,
    (128, "all"): 12e6,
    (128, "attention"): 64e6,
    (128, "ffn"): 38e6,
    (128, "none"): 89e6,
}

SHARING = ("none", "attention", "ffn", "all")


def paper_config(name: str, **overrides: Any) -> BertConfig | AlbertConfig:
    """The config of a model of the paper's Table 1 ("BERT-base", ..., "ALBERT-xxlarge")."""
    if name not in PAPER_TABLE1:
        raise ValueError(f"unknown model {name!r}: use one of {', '.join(PAPER_TABLE1)}")
    row = PAPER_TABLE1[name]
    h = row["hidden"]
    kwargs: dict[str, Any] = dict(
        hidden_size=h,
        num_hidden_layers=row["layers"],
        num_attention_heads=h // 64,
        intermediate_size=4 * h,
        max_position_embeddings=512,
        type_vocab_size=2,
    )
    if row["family"] == "bert":
        kwargs.update(vocab_size=30522)
        kwargs.update(overrides)
        return BertConfig(**kwargs)
    base = dict(ALBERT_BASE_V2)
    base.update(kwargs, embedding_size=row["embedding"])
    base.update(overrides)
    return AlbertConfig(**base)


def albert_base_config(**overrides: Any) -> AlbertConfig:
    """albert-base-v2's AlbertConfig, offline (see ALBERT_BASE_V2); `overrides` win."""
    return AlbertConfig(**{**ALBERT_BASE_V2, **overrides})


def load_albert_base_v2() -> AlbertModel:
    """The real albert-base-v2 (pinned revision in config.HUB_MODELS), from the Hub or a local
    Hub cache; a CourseError says what to do when neither is reachable."""
    from course_utils.hub import load_pretrained

    return load_pretrained(AlbertModel, "albert-base-v2")


def small_albert_config(
    vocab_size: int, budget: Budget | str | None = None, **overrides: Any
) -> AlbertConfig:
    """The course's small ALBERT: course-bert-small's shape with ALBERT's two size changes.

    H, L, heads, FFN, positions, initial-weight scale and dropout (none) come from
    `mlm.encoder_sizes` (the same budget as `small_bert_config`); the embedding size
    E = H / 2 < H (factorized) and all layers share one set of weights (num_hidden_groups =
    inner_group_num = 1). The activation stays course-bert-small's GELU, so that a comparison
    isolates ALBERT's changes; albert-base-v2 itself uses gelu_new (and no dropout either).
    `overrides` win.
    """
    kwargs = encoder_sizes(vocab_size, budget)
    kwargs.update(
        embedding_size=max(8, kwargs["hidden_size"] // 2),
        num_hidden_groups=1,
        inner_group_num=1,
        type_vocab_size=2,  # segments A/B, for SOP and fine-tuning on pairs
        hidden_act="gelu",
        pad_token_id=0,
    )
    kwargs.update(overrides)
    if kwargs["embedding_size"] > kwargs["hidden_size"]:
        raise ValueError("ALBERT factorizes the embedding: embedding_size must be <= hidden_size")
    return AlbertConfig(**kwargs)


# ---------------------------------------------------------------- counting


def _is_albert(config: Any) -> bool:
    return getattr(config, "model_type", "") == "albert"


def layer_parameters(hidden: int, ffn: int) -> dict[str, int]:
    """Parameters of one encoder layer (BERT's and ALBERT's are the same), in two blocks.

    attention: Q, K, V and output projections (H x H + H each) and the LayerNorm after the
    attention (2H); ffn: H -> FFN -> H with biases and the LayerNorm after it (2H).
    """
    attention = 4 * (hidden * hidden + hidden) + 2 * hidden
    feed_forward = (hidden * ffn + ffn) + (ffn * hidden + hidden) + 2 * hidden
    return {"attention": attention, "ffn": feed_forward}


def count_parameters(
    config: Any, sharing: str | None = None, pooler: bool = True
) -> dict[str, int]:
    """Parameters of BertModel / AlbertModel(config) by formula, by part, and the total.

    embeddings: token (V x E), positions (P x E), segments (T x E) and a LayerNorm (2E), where
    E = H for BERT; projection: ALBERT's E -> H linear (E*H + H; present even when E = H);
    encoder: the distinct layer weights (see `layer_parameters`); pooler: H x H + H.
    `sharing` (ALBERT only): "none", "attention", "ffn" or "all"; None takes it from the config
    (BERT: none; ALBERT: num_hidden_groups x inner_group_num distinct layers).
    """
    for field in ("vocab_size", "hidden_size", "num_hidden_layers", "intermediate_size"):
        if not isinstance(getattr(config, field, None), int):
            raise ValueError(f"{type(config).__name__} lacks an integer {field}")
    albert = _is_albert(config)
    if sharing is not None and sharing not in SHARING:
        raise ValueError(f"sharing must be one of {', '.join(SHARING)} or None, got {sharing!r}")
    if sharing not in (None, "none") and not albert:
        raise ValueError("sharing variants are built on ALBERT configs (AlbertConfig)")
    v, h, n_layers = config.vocab_size, config.hidden_size, config.num_hidden_layers
    e = config.embedding_size if albert else h
    parts = {
        "embeddings": v * e
        + config.max_position_embeddings * e
        + config.type_vocab_size * e
        + 2 * e,
        "projection": e * h + h if albert else 0,
    }
    layer = layer_parameters(h, config.intermediate_size)
    if sharing is None:
        distinct = config.num_hidden_groups * config.inner_group_num if albert else n_layers
        parts["encoder"] = distinct * (layer["attention"] + layer["ffn"])
    else:
        n_att = 1 if sharing in ("attention", "all") else n_layers
        n_ffn = 1 if sharing in ("ffn", "all") else n_layers
        parts["encoder"] = n_att * layer["attention"] + n_ffn * layer["ffn"]
    parts["pooler"] = h * h + h if pooler else 0
    parts["total"] = sum(parts.values())
    return parts


def n_params(model: nn.Module) -> int:
    """Distinct parameters of a model: `parameters()` yields a shared tensor once."""
    return sum(p.numel() for p in model.parameters())


def build_encoder(config: Any, sharing: str | None = None) -> nn.Module:
    """BertModel or AlbertModel for `config`, with ALBERT's `sharing` ("none", "attention",
    "ffn", "all"; None = as the config says).

    AlbertConfig expresses all-shared (num_hidden_groups=1) and not-shared (one group per
    layer); attention-only and FFN-only sharing are built from not-shared by making every
    layer's attention block (or feed-forward block with its LayerNorm) the first layer's module.
    """
    if not _is_albert(config):
        if sharing not in (None, "none"):
            raise ValueError("sharing variants are built on ALBERT configs (AlbertConfig)")
        return BertModel(config)
    if sharing is None:
        return AlbertModel(config)
    if sharing not in SHARING:
        raise ValueError(f"sharing must be one of {', '.join(SHARING)} or None, got {sharing!r}")
    n = config.num_hidden_layers
    groups = 1 if sharing == "all" else n
    config = AlbertConfig(**{**config.to_dict(), "num_hidden_groups": groups, "inner_group_num": 1})
    model = AlbertModel(config)
    layers = [g.albert_layers[0] for g in model.encoder.albert_layer_groups]
    first = layers[0]
    tied = {"attention": ("attention",), "ffn": ("ffn", "ffn_output", "full_layer_layer_norm")}
    for layer in layers[1:]:
        for name in tied.get(sharing, ()):
            setattr(layer, name, getattr(first, name))  # the same module object: one storage
    return model


# ---------------------------------------------------------------- documents and pairs


class SentencePair(NamedTuple):
    """A two-segment example: label 0 = `second` follows `first` in the document, 1 = not.

    For SOP, 1 means the two consecutive segments were swapped; for NSP, that `second` comes
    from another document. `document` is the index of the document `first` comes from.
    """

    first: list[Any]
    second: list[Any]
    label: int
    document: int


_ARTICLE_TITLE = re.compile(r"^ = [^=].* = $")


def split_articles(lines: Iterable[str]) -> list[list[str]]:
    """WikiText lines grouped into articles: a new one starts at each ` = Title = ` line.

    Blank lines are dropped; lines before the first title are ignored.
    """
    articles: list[list[str]] = []
    for line in lines:
        text = line.strip("\n")
        if _ARTICLE_TITLE.match(text):
            articles.append([])
        if text.strip() and articles:
            articles[-1].append(text.strip())
    return articles


def wikitext_documents(split: str = "train", max_articles: int | None = None) -> list[str]:
    """WikiText-2 articles of `split` as one string each (course_utils.data; offline with
    COURSE_DATA_DIR)."""
    from course_utils.data import load_course_dataset

    articles = split_articles(load_course_dataset("wikitext-2", split)["text"])
    return [" ".join(a) for a in articles[:max_articles]]


def _check_pair_args(documents: Sequence[Sequence[Any]], segment_len: int) -> None:
    if not isinstance(segment_len, int) or segment_len < 1:
        raise ValueError(f"segment_len must be a positive int, got {segment_len!r}")
    if isinstance(documents, str) or not all(isinstance(d, Sequence) for d in documents):
        raise ValueError("documents must be a list of token sequences (one per document)")


def _chunks(tokens: Sequence[Any], size: int) -> list[list[Any]]:
    """Consecutive chunks of `size` tokens; a 1-token remainder joins the chunk before it."""
    chunks = [list(tokens[i : i + size]) for i in range(0, len(tokens), size)]
    if len(chunks) > 1 and len(chunks[-1]) < 2:
        chunks[-2].extend(chunks.pop())
    return chunks


def sop_pairs(
    documents: Sequence[Sequence[Any]], segment_len: int, seed: int = 0
) -> list[SentencePair]:
    """Sentence-order prediction pairs (Lan et al. 2020, section 3.1).

    Each document is cut into consecutive chunks of 2 x `segment_len` tokens; each chunk is split
    in the middle into two consecutive segments A, B. Half of the pairs (a seeded coin per pair)
    are swapped to (B, A), label 1; the others stay (A, B), label 0. Both segments always come
    from the same document, so topic cannot give the answer away: only the order can. Every
    token of a document of 2+ tokens is in exactly one pair; shorter documents give none.
    """
    _check_pair_args(documents, segment_len)
    rng = random.Random(seed)
    pairs = []
    for d, doc in enumerate(documents):
        if len(doc) < 2:
            continue
        for chunk in _chunks(doc, 2 * segment_len):
            a, b = chunk[: len(chunk) // 2], chunk[len(chunk) // 2 :]
            if rng.random() < 0.5:
                pairs.append(SentencePair(b, a, 1, d))
            else:
                pairs.append(SentencePair(a, b, 0, d))
    return pairs


def nsp_pairs(
    documents: Sequence[Sequence[Any]], segment_len: int, seed: int = 0
) -> list[SentencePair]:
    """Next-sentence prediction pairs (Devlin et al. 2019, section 3.1), for comparison.

    Segments A, B as in `sop_pairs`. Half of the pairs keep (A, B), label 0; in the others B is
    replaced by a segment of the same length from another document (label 1), so topic alone
    often gives the answer away, the weakness that SOP removes. Needs 2+ usable documents.
    """
    _check_pair_args(documents, segment_len)
    usable = [d for d, doc in enumerate(documents) if len(doc) >= 2]
    if len(usable) < 2:
        raise ValueError("NSP needs at least two documents of 2+ tokens (B from another one)")
    rng = random.Random(seed)
    pairs = []
    for d in usable:
        for chunk in _chunks(documents[d], 2 * segment_len):
            a, b = chunk[: len(chunk) // 2], chunk[len(chunk) // 2 :]
            if rng.random() < 0.5:
                pairs.append(SentencePair(a, b, 0, d))
                continue
            other = rng.choice([u for u in usable if u != d])
            doc = documents[other]
            n = min(len(b), len(doc))
            start = rng.randrange(len(doc) - n + 1)
            pairs.append(SentencePair(a, list(doc[start : start + n]), 1, d))
    return pairs


# ---------------------------------------------------------------- training on pairs


@dataclass
class PairCollator:
    """Batches of [CLS] first [SEP] second [SEP] with segment ids, MLM targets and order labels.

    Output keys: input_ids, token_type_ids, attention_mask, labels (MLM: BERT's 15% / 80-10-10
    via masking.mask_tokens, -100 = no target) and order_labels (the pair's label). Token ids
    of the pairs must come from `tokenizer`; a pair longer than `max_length` is truncated at its
    ends (the longer segment first), as BERT's pretraining data does.
    """

    tokenizer: Any
    max_length: int
    mlm_probability: float = 0.15
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_length < 5:
            raise ValueError(f"max_length must be >= 5, got {self.max_length}")
        self.generator = torch.Generator().manual_seed(self.seed)

    def __call__(
        self, pairs: Sequence[SentencePair | Mapping[str, Any]]
    ) -> dict[str, torch.Tensor]:
        tok = self.tokenizer
        rows, segments, labels = [], [], []
        for pair in pairs:
            if isinstance(pair, Mapping):
                pair = SentencePair(pair["first"], pair["second"], pair["label"], -1)
            a, b = list(pair.first), list(pair.second)
            while len(a) + len(b) > self.max_length - 3:
                (a if len(a) > len(b) else b).pop()
            rows.append([tok.cls_token_id, *a, tok.sep_token_id, *b, tok.sep_token_id])
            segments.append([0] * (len(a) + 2) + [1] * (len(b) + 1))
            labels.append(int(pair.label))
        width = max(len(r) for r in rows)
        pad = tok.pad_token_id
        ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
        types = torch.tensor([s + [0] * (width - len(s)) for s in segments])
        attention = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
        masked, mlm_labels = mask_tokens(
            ids, tok, mlm_probability=self.mlm_probability, generator=self.generator
        )
        return {
            "input_ids": masked,
            "token_type_ids": types,
            "attention_mask": attention,
            "labels": mlm_labels,
            "order_labels": torch.tensor(labels),
        }


def _order_head(model: nn.Module) -> nn.Module:
    for name in ("sop_classifier", "cls"):  # AlbertForPreTraining, BertForPreTraining
        head = getattr(model, name, None)
        if name == "cls" and head is not None:
            head = getattr(head, "seq_relationship", None)
        if isinstance(head, nn.Module):
            return head
    raise ValueError(
        f"{type(model).__name__} has no sentence-pair head: use AlbertForPreTraining "
        "(sop_classifier) or BertForPreTraining (cls.seq_relationship)"
    )


def _pair_outputs(
    model: nn.Module, batch: Mapping[str, torch.Tensor]
) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """(MLM logits at targets or None, MLM targets, order logits) from one encoder pass."""
    encoder = model.base_model
    device = next(model.parameters()).device
    keys = ("input_ids", "attention_mask", "token_type_ids")
    out = encoder(**{k: batch[k].to(device) for k in keys if k in batch})
    order_logits = _order_head(model)(out.pooler_output)
    labels = batch["labels"].to(device) if "labels" in batch else None
    if labels is None:
        return None, torch.empty(0, dtype=torch.long), order_logits
    where = labels != IGNORE_INDEX
    head = model.predictions if hasattr(model, "predictions") else model.cls.predictions
    return head(out.last_hidden_state[where]), labels[where], order_logits


def mlm_and_order_loss(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> MLMOutput:
    """MLM + sentence-pair loss (SOP or NSP, whichever the pairs hold), for `mlm.train_mlm`.

    As ALBERT and BERT: the sum of the masked-LM cross-entropy (at the targets only) and the
    2-way cross-entropy of the pair head on the pooled [CLS] vector. `model`:
    AlbertForPreTraining (or BertForPreTraining); `batch` from `PairCollator`.
    """
    if "order_labels" not in batch:
        raise ValueError("batch has no order_labels: build it with PairCollator")
    logits, targets, order_logits = _pair_outputs(model, batch)
    order = batch["order_labels"].to(order_logits.device)
    loss = F.cross_entropy(order_logits.float(), order)
    if logits is not None and targets.numel():
        loss = loss + F.cross_entropy(logits.float(), targets)
    return MLMOutput(
        loss=loss, logits=logits if logits is not None else order_logits, labels=targets
    )


@torch.no_grad()
def order_accuracy(model: nn.Module, batches: Iterable[Mapping[str, torch.Tensor]]) -> float:
    """Accuracy of the pair head on `batches` (PairCollator output; MLM masks are ignored)."""
    was_training = model.training
    model.eval()
    right = total = 0
    for batch in batches:
        clean = {k: v for k, v in batch.items() if k != "labels"}
        _, _, order_logits = _pair_outputs(model, clean)
        labels = batch["order_labels"].to(order_logits.device)
        right += int((order_logits.argmax(-1) == labels).sum())
        total += len(labels)
    model.train(was_training)
    if total == 0:
        raise ValueError("no pairs to score")
    return right / total


# ---------------------------------------------------------------- the chapter's experiment
#
# One command makes results/albert_experiments.json (the chapter reads it; RERUN reruns it):
#   python -m course_utils.albert experiment --budget cpu --out results/albert_experiments.json
# 1. forward time per sequence of the paper's Table 1 models, measured at 1 and 2 layers and
#    extrapolated linearly to their depth (the full models do not fit the course's time budget);
# 2. SOP vs NSP: the same small ALBERT pretrained with MLM + SOP and with MLM + NSP, each scored
#    on both tasks; a third, not-shared copy trained with SOP for the layer-similarity figure;
# 3. SST-2 (downstream.finetune_sst2): the SOP and NSP models and their random-init twin.

RESULTS_FILE = "results/albert_experiments.json"
#: The command that remakes RESULTS_FILE (named when neither the clone nor GitHub has it).
RERUN_COMMAND = "python -m course_utils.albert experiment --budget cpu --out FILE"


@dataclass(frozen=True)
class ExperimentPlan:
    """Sizes of the experiment for one budget (`plan_for`)."""

    budget: str
    timing_seq_len: int
    timing_repeats: int
    layers: int  # of the small pretrained models
    block: int  # tokens per pair, [CLS] and [SEP]s included
    steps: int
    batch_size: int
    lr: float
    warmup_steps: int
    eval_pairs: int
    train_articles: int | None
    sst2_seeds: int  # SST-2 fine-tunings (downstream harness) of each pair-trained model


def plan_for(budget: Budget | str | None) -> ExperimentPlan:
    from course_utils.budget import get_budget

    b = budget if isinstance(budget, Budget) else get_budget(budget)
    return b.pick(
        ci=ExperimentPlan("ci", 32, 1, 2, 32, 12, 8, 2e-3, 2, 64, 40, 1),
        # 2 layers: at lr 2e-3, 4-layer models (shared or not) stayed on the unigram plateau
        # for 2,000 steps (MLM 5.6%), 2-layer ones reach ~21% by step 1,000
        cpu=ExperimentPlan("cpu", 128, 3, 2, 64, 3000, 32, 2e-3, 150, 1024, None, 3),
        gpu=ExperimentPlan("gpu", 512, 5, 6, 128, 5000, 128, 5e-4, 300, 4096, None, 3),
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def time_forward(
    config: Any, seq_len: int, repeats: int = 3, device: str | torch.device = "cpu"
) -> float:
    """Seconds of one forward pass of `build_encoder(config)` on one random sequence: the best
    of `repeats` timed passes after a warm-up (the minimum, because other jobs on a shared
    machine only ever add time)."""
    import time

    device = torch.device(device)
    model = build_encoder(config).to(device).eval()
    ids = torch.randint(0, config.vocab_size, (1, seq_len), device=device)
    model(ids)  # warm-up: allocations, kernel choice
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        model(ids)
        _sync(device)
        times.append(time.perf_counter() - t0)
    del model
    return min(times)


#: Lan et al. 2020, Table 2: training speed-up relative to BERT-large (same TPUs and batch).
PAPER_SPEEDUP = {
    "BERT-base": 4.7,
    "BERT-large": 1.0,
    "ALBERT-base": 5.6,
    "ALBERT-large": 1.7,
    "ALBERT-xlarge": 0.6,
    "ALBERT-xxlarge": 0.3,
}


def timing_table(plan: ExperimentPlan, log: Any = print) -> list[dict[str, Any]]:
    """Forward time per sequence of each Table 1 model, extrapolated from 1 and 2 layers."""
    from course_utils.flops import EncoderShape, forward_flops

    rows = []
    for name in PAPER_TABLE1:
        full = paper_config(name, max_position_embeddings=max(512, plan.timing_seq_len))
        t1 = time_forward(
            paper_config(name, num_hidden_layers=1), plan.timing_seq_len, plan.timing_repeats
        )
        t2 = time_forward(
            paper_config(name, num_hidden_layers=2), plan.timing_seq_len, plan.timing_repeats
        )
        per_layer = max(t2 - t1, 0.0)
        seconds = t1 + (full.num_hidden_layers - 1) * per_layer
        flops = forward_flops(EncoderShape.from_config(full), plan.timing_seq_len, "encoder")
        rows.append(
            {
                "model": name,
                "layers": full.num_hidden_layers,
                "params": count_parameters(full)["total"],
                "seconds_1_layer": t1,
                "seconds_2_layers": t2,
                "seconds_extrapolated": seconds,
                "forward_gflops": flops["total"] / 1e9,
                "paper_speedup": PAPER_SPEEDUP[name],
            }
        )
        log(f"timing {name}: 1 layer {t1:.3f} s, 2 layers {t2:.3f} s, full ~{seconds:.2f} s")
    return rows


def _tokenized_documents(tokenizer: Any, split: str, max_articles: int | None) -> list[list[int]]:
    docs = wikitext_documents(split, max_articles)
    return tokenizer(docs, add_special_tokens=False)["input_ids"]


@torch.no_grad()
def layer_similarity(
    model: nn.Module, batches: Iterable[Mapping[str, torch.Tensor]]
) -> list[dict[str, float]]:
    """Per layer: mean L2 distance and cosine similarity between its input and output hidden
    states, over the real tokens of `batches` (Lan et al. 2020, Figure 1)."""
    encoder = getattr(model, "base_model", model)
    was_training = encoder.training
    encoder.eval()
    sums: list[list[float]] = []
    n = 0
    for batch in batches:
        keys = ("input_ids", "attention_mask", "token_type_ids")
        out = encoder(**{k: batch[k] for k in keys if k in batch}, output_hidden_states=True)
        real = batch["attention_mask"].bool()
        states = [h[real] for h in out.hidden_states]  # (n_tokens, H) each
        if not sums:
            sums = [[0.0, 0.0] for _ in states[1:]]
        for i, (x, y) in enumerate(zip(states[:-1], states[1:], strict=True)):
            sums[i][0] += float((y - x).norm(dim=-1).sum())
            sums[i][1] += float(F.cosine_similarity(x, y, dim=-1).sum())
        n += int(real.sum())
    encoder.train(was_training)
    return [{"layer": i + 1, "l2": s[0] / n, "cosine": s[1] / n} for i, s in enumerate(sums)]


def _pair_data(
    plan: ExperimentPlan, tokenizer: Any, seed: int
) -> tuple[int, list[list[int]], dict[str, list[SentencePair]]]:
    """(segment length, tokenized train documents, held-out SOP and NSP pairs of the
    validation articles: `plan.eval_pairs` of each, sampled with `seed` + 1)."""
    segment = (plan.block - 3) // 2
    train_docs = _tokenized_documents(tokenizer, "train", plan.train_articles)
    valid_docs = _tokenized_documents(tokenizer, "validation", None)
    rng = random.Random(seed + 1)
    valid = {}
    for task, make in (("sop", sop_pairs), ("nsp", nsp_pairs)):
        pairs = make(valid_docs, segment, seed=seed + 1)
        valid[task] = rng.sample(pairs, min(plan.eval_pairs, len(pairs)))
    return segment, train_docs, valid


def _held_out_batches(
    plan: ExperimentPlan, tokenizer: Any, valid: Mapping[str, list[SentencePair]]
) -> tuple[dict[str, list[dict[str, torch.Tensor]]], list[dict[str, torch.Tensor]]]:
    """(unmasked batches of 64 pairs per task, for the pair heads; the SOP pairs with fixed
    MLM masks, for the masked-LM score)."""
    clean = PairCollator(tokenizer, plan.block, mlm_probability=0.0)
    masked = PairCollator(tokenizer, plan.block, seed=1234)  # fixed held-out MLM targets
    order = {t: [clean(p[i : i + 64]) for i in range(0, len(p), 64)] for t, p in valid.items()}
    sop = valid["sop"]
    return order, [masked(sop[i : i + 64]) for i in range(0, len(sop), 64)]


def _train_pair_model(
    plan: ExperimentPlan,
    tokenizer: Any,
    pairs: Sequence[SentencePair],
    sharing: str,
    seed: int,
    score: Any,
) -> tuple[nn.Module, dict[str, float], Any]:
    """(model, its untrained scores, History): a small AlbertForPreTraining trained with MLM +
    the pair task of `pairs` for the plan's steps; all layers shared ("all") or none ("none")."""
    from transformers import AlbertForPreTraining

    from course_utils.mlm import TrainConfig, train_mlm
    from course_utils.seed import seed_everything

    config = small_albert_config(
        len(tokenizer),
        plan.budget,
        num_hidden_layers=plan.layers,
        num_hidden_groups=1 if sharing == "all" else plan.layers,
        max_position_embeddings=plan.block,
    )
    seed_everything(seed)
    model = AlbertForPreTraining(config)
    untrained = score(model)
    loader = torch.utils.data.DataLoader(
        pairs,
        batch_size=plan.batch_size,
        shuffle=True,
        collate_fn=PairCollator(tokenizer, plan.block, seed=seed),
        drop_last=True,
        generator=torch.Generator().manual_seed(seed),
    )
    tc = TrainConfig(
        steps=plan.steps,
        batch_size=plan.batch_size,
        lr=plan.lr,
        warmup_steps=plan.warmup_steps,
        seed=seed,
    )
    history = train_mlm(model, loader, tc, valid=score, progress=False, loss_fn=mlm_and_order_loss)
    return model.to("cpu"), untrained, history


def run_experiment(
    budget: Budget | str | None = "cpu", seed: int = 0, command: str = "", log: Any = print
) -> dict[str, Any]:
    """The chapter's experiment (see the comment above RESULTS_FILE): a JSON-ready dict."""
    import time

    from transformers import AlbertForPreTraining, AutoTokenizer

    from course_utils.checkpoints import checkpoint_dir
    from course_utils.downstream import finetune_sst2
    from course_utils.downstream import recipe as downstream_recipe
    from course_utils.mlm import evaluate_batches
    from course_utils.results import git_commit
    from course_utils.seed import seed_everything

    start = time.perf_counter()
    plan = plan_for(budget)
    commit = git_commit()
    torch.manual_seed(seed)
    timing = timing_table(plan, log)

    tokenizer = AutoTokenizer.from_pretrained(checkpoint_dir("course-bert-small"))
    segment, train_docs, valid = _pair_data(plan, tokenizer, seed)
    data = {
        "sop": sop_pairs(train_docs, segment, seed=seed),
        "nsp": nsp_pairs(train_docs, segment, seed=seed),
    }
    order_batches, mlm_batches = _held_out_batches(plan, tokenizer, valid)

    def score(model: nn.Module) -> dict[str, float]:
        mlm = evaluate_batches(model, mlm_batches)
        return {
            "loss": mlm["loss"],
            "mlm_accuracy": mlm["accuracy"],
            "sop_accuracy": order_accuracy(model, order_batches["sop"]),
            "nsp_accuracy": order_accuracy(model, order_batches["nsp"]),
        }

    runs = {}
    models = {}
    for name, task, sharing in (
        ("albert-sop", "sop", "all"),
        ("albert-nsp", "nsp", "all"),
        ("not-shared-sop", "sop", "none"),
    ):
        model, untrained, history = _train_pair_model(
            plan, tokenizer, data[task], sharing, seed, score
        )
        models[name] = model
        runs[name] = {
            "objective": task,
            "sharing": sharing,
            "n_params": history.n_params,
            "untrained": untrained,
            "final": history.final_eval,
            "train_seconds": round(history.wall_time, 1),
            "final_train_loss": sum(history.train_loss[-20:]) / len(history.train_loss[-20:]),
        }
        log(f"{name}: {runs[name]['final']} in {history.wall_time:.0f} s")

    # what each sentence objective transfers: SST-2 with the harness of chapter 4, both pair
    # models and their architecture from random weights, one fine-tuning recipe
    sst2: dict[str, Any] = {}
    for name in ("albert-sop", "albert-nsp", "random-init"):
        source = models["albert-sop" if name == "random-init" else name]
        init = "random" if name == "random-init" else "pretrained"
        accuracies = [
            finetune_sst2(
                source, tokenizer, init=init, budget=plan.budget, seed=s, verbose=False
            ).accuracy
            for s in range(plan.sst2_seeds)
        ]
        sst2[name] = {"accuracies": accuracies, "mean": float(sum(accuracies) / len(accuracies))}
        log(f"SST-2 {name}: {sst2[name]['mean']:.3f}")

    similarity = {}
    sim_batches = order_batches["sop"][:4]
    for name in ("albert-sop", "not-shared-sop"):
        similarity[name] = layer_similarity(models[name], sim_batches)
        config = models[name].config
        seed_everything(seed)
        similarity[f"{name} (untrained)"] = layer_similarity(
            AlbertForPreTraining(config), sim_batches
        )

    return {
        "command": command,
        "budget": plan.budget,
        "seed": seed,
        "git_commit": commit,
        "torch": torch.__version__,
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "plan": {k: v for k, v in vars(plan).items()},
        "tokenizer": "course-bert-small's WordPiece",
        "data": {
            "train_pairs": {t: len(p) for t, p in data.items()},
            "valid_pairs": {t: len(p) for t, p in valid.items()},
            "segment_tokens": segment,
        },
        "timing": timing,
        "runs": runs,
        "sst2": sst2,
        "sst2_recipe": asdict(downstream_recipe(plan.budget)),
        "similarity": similarity,
        "total_seconds": round(time.perf_counter() - start, 1),
    }


# ---------------------------------------------------------------- a shortcut in the pairs?
#
# `sop_pairs` cuts each chunk in the middle, usually inside a sentence, so in an in-order pair the
# end of A runs straight on into B. The official pipelines (create_pretraining_data.py of
# google-research/bert and /albert) split between whole sentences. The check: retrain the
# experiment's NSP model (same seed, data and steps) and score it on the same SOP chunks split
# both ways.
#   python -m course_utils.albert boundary --budget cpu --out results/albert_boundary.json

BOUNDARY_FILE = "results/albert_boundary.json"
BOUNDARY_COMMAND = "python -m course_utils.albert boundary --budget cpu --out FILE"


def sentence_aligned(pairs: Sequence[SentencePair], boundary_ids: set[Any]) -> list[SentencePair]:
    """The same SOP chunks re-split after the sentence end (a token in `boundary_ids`) nearest
    the middle, each keeping its label (swapped stays swapped); chunks without an inner
    sentence end are dropped."""
    aligned = []
    for pair in pairs:
        chunk = pair.first + pair.second if pair.label == 0 else pair.second + pair.first
        cuts = [i for i in range(1, len(chunk)) if chunk[i - 1] in boundary_ids]
        if not cuts:
            continue
        cut = min(cuts, key=lambda i: abs(i - len(chunk) / 2))
        a, b = chunk[:cut], chunk[cut:]
        aligned.append(
            SentencePair(b, a, 1, pair.document) if pair.label else pair._replace(first=a, second=b)
        )
    return aligned


def run_boundary_check(
    budget: Budget | str | None = "cpu", seed: int = 0, command: str = "", log: Any = print
) -> dict[str, Any]:
    """The NSP model of `run_experiment`, retrained, scored on SOP pairs cut in the middle (as
    `sop_pairs`) and at a sentence end (`sentence_aligned`), and on NSP pairs."""
    import time

    from transformers import AutoTokenizer

    from course_utils.checkpoints import checkpoint_dir
    from course_utils.mlm import evaluate_batches
    from course_utils.results import git_commit

    start = time.perf_counter()
    plan = plan_for(budget)
    commit = git_commit()
    tokenizer = AutoTokenizer.from_pretrained(checkpoint_dir("course-bert-small"))
    segment, train_docs, valid = _pair_data(plan, tokenizer, seed)  # the experiment's pairs
    ends = {tokenizer.convert_tokens_to_ids(t) for t in (".", "!", "?")}
    valid["sop, split at a sentence end"] = sentence_aligned(valid["sop"], ends)
    batches, mlm_batches = _held_out_batches(plan, tokenizer, valid)

    def score(m: nn.Module) -> dict[str, float]:
        return {**evaluate_batches(m, mlm_batches), "nsp": order_accuracy(m, batches["nsp"])}

    model, _, history = _train_pair_model(
        plan, tokenizer, nsp_pairs(train_docs, segment, seed=seed), "all", seed, score
    )
    scores = {
        task: {"accuracy": order_accuracy(model, b), "pairs": len(valid[task])}
        for task, b in batches.items()
    }
    for task, row in scores.items():
        log(f"NSP-trained model on {task}: {row['accuracy']:.3f} ({row['pairs']} pairs)")
    return {
        "command": command,
        "budget": plan.budget,
        "seed": seed,
        "git_commit": commit,
        "plan": dict(vars(plan)),
        "model": "albert-nsp of results/albert_experiments.json, retrained (same seed and data)",
        "train_seconds": round(history.wall_time, 1),
        "scores": scores,
        "total_seconds": round(time.perf_counter() - start, 1),
    }


def load_boundary(path: str | None = None, verbose: bool = True) -> dict[str, Any]:
    """results/albert_boundary.json (the clone's, else GitHub's at the pinned ref)."""
    from course_utils.results import load_results as _load_results

    return _load_results(BOUNDARY_FILE, BOUNDARY_COMMAND, path, verbose)


def load_results(path: str | None = None, verbose: bool = True) -> dict[str, Any]:
    """The committed results: `path`, else RESULTS_FILE in the repository clone, else (an
    installed package without a clone, e.g. Colab) the same file from GitHub at the ref the
    course pins (config.GITHUB_REF). Prints which one it read."""
    from course_utils.results import load_results as _load_results

    # `or None`: an empty path has always meant "the committed file" here.
    return _load_results(RESULTS_FILE, RERUN_COMMAND, path or None, verbose)


def main(argv: list[str] | None = None) -> int:
    """CLI: `python -m course_utils.albert {experiment,boundary} [--budget cpu] [--out FILE]`."""
    import argparse
    import json
    import os
    import shlex
    import sys
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m course_utils.albert")
    sub = parser.add_subparsers(dest="command", required=True)
    exp = sub.add_parser("experiment", help="timing, SOP vs NSP, layer similarity")
    exp.add_argument("--budget", default="cpu", choices=["ci", "cpu", "gpu"])
    exp.add_argument("--seed", type=int, default=0)
    exp.add_argument("--out", type=Path, default=None, help=f"JSON file (e.g. {RESULTS_FILE})")
    cut = sub.add_parser("boundary", help="the NSP model on SOP pairs split two ways")
    cut.add_argument("--budget", default="cpu", choices=["ci", "cpu", "gpu"])
    cut.add_argument("--seed", type=int, default=0)
    cut.add_argument("--out", type=Path, default=None, help=f"JSON file (e.g. {BOUNDARY_FILE})")
    args = parser.parse_args(argv)
    shared = Path(__file__).resolve().parents[3] / "shared" / "data"
    if not os.environ.get("COURSE_DATA_DIR") and shared.is_dir():
        os.environ["COURSE_DATA_DIR"] = str(shared)  # offline by default where the copy exists
    given = list(argv) if argv is not None else sys.argv[1:]
    command = "python -m course_utils.albert " + shlex.join(given)
    run = run_boundary_check if args.command == "boundary" else run_experiment
    results = run(args.budget, args.seed, command, lambda s: print(s, flush=True))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
