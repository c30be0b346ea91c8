"""Chapter 5 (ALBERT) exercises: the hidden tests catch plausible wrong answers (mutants).

As in test_exercises_06.py, every case runs otter's test files in this process against the
solution notebook's namespace with one function replaced, then again across the sandboxed
grader's plain-data boundary (`loopback_env`). The generic checks (solutions pass, stubs fail
only with NotImplementedError, notebooks run) are in test_exercises.py.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from exercise_fixtures.mutants import MutantChecks, chapter_fixtures
from exercise_fixtures.submissions import run_question

CHAPTER = "05_albert"
QUESTION_OF = {"count_parameters": "q1", "sop_pairs": "q2", "layer_schedule": "q3"}


tests, solution_env = chapter_fixtures(CHAPTER)


# q1 mutants -----------------------------------------------------------------------------------


def _counter(**bug: Any) -> Callable[[dict], int]:
    """The parameter count with one bug switched on (no bug: the correct count)."""

    def count_parameters(config: dict) -> int:
        v, h = config["vocab_size"], config["hidden_size"]
        n_layers, f = config["num_hidden_layers"], config["intermediate_size"]
        e = config["embedding_size"]
        width = h if e is None or bug.get("table_width_h") else e
        side = h if e is not None and bug.get("positions_width_h") else width
        total = v * width + config["max_position_embeddings"] * side
        total += 0 if bug.get("no_segments") else config["type_vocab_size"] * side
        total += 0 if bug.get("no_embedding_norm") else 2 * width
        if e is not None and not (bug.get("projection_only_if_e_lt_h") and e == h):
            if not bug.get("no_projection"):
                total += e * h + (0 if bug.get("no_projection_bias") else h)
        bias = 0 if bug.get("no_biases") else 1
        norm = 2 * h if bug.get("one_norm_per_layer") else 0
        attention = 4 * (h * h + bias * h) + (0 if norm else 2 * h)
        ffn = (h * f + bias * f) + (f * h + bias * h) + 2 * h
        sharing = config["sharing"]
        if bug.get("swap_sharing"):
            sharing = {"attention": "ffn", "ffn": "attention"}.get(sharing, sharing)
        if bug.get("ignore_sharing"):
            sharing = "none"
        total += (1 if sharing in ("attention", "all") else n_layers) * attention
        total += (1 if sharing in ("ffn", "all") else n_layers) * ffn
        return total + (0 if bug.get("no_pooler") else h * h + h)

    return count_parameters


# q2 mutants -----------------------------------------------------------------------------------


def _sop(**bug: Any) -> Callable[..., list]:
    """SOP pairs with one bug switched on (no bug: the correct builder)."""

    def sop_pairs(documents: list, segment_len: int, seed: int) -> list:
        rng = random if bug.get("global_random") else random.Random(seed)
        size = segment_len if bug.get("chunk_is_segment_len") else 2 * segment_len
        docs = [(i, d) for i, d in enumerate(documents)]
        if bug.get("stream_across_documents"):
            docs = [(0, [t for d in documents for t in d])]
        pairs, kept = [], 0
        for index, doc in docs:
            if len(doc) < 2:
                continue
            label_doc = kept if bug.get("index_among_kept") else index
            kept += 1
            if bug.get("overlapping"):
                step = segment_len
                chunks = [list(doc[i : i + size]) for i in range(0, len(doc) - step, step)]
            else:
                chunks = [list(doc[i : i + size]) for i in range(0, len(doc), size)]
            if len(chunks) > 1 and len(chunks[-1]) == 1:
                if bug.get("drop_single_token"):
                    chunks.pop()
                else:
                    chunks[-2].extend(chunks.pop())
            if bug.get("drop_short_last") and len(chunks) > 1 and len(chunks[-1]) < size:
                chunks.pop()
            for k, chunk in enumerate(chunks):
                cut = min(segment_len, len(chunk) - 1) if bug.get("cut_at_segment_len") else None
                cut = len(chunk) // 2 if cut is None else cut
                a, b = chunk[:cut], chunk[cut:]
                if bug.get("alternate"):
                    swap = k % 2 == 1
                else:
                    swap = rng.random() < bug.get("rate", 0.5)
                if swap and bug.get("reverse_tokens"):
                    pairs.append((a[::-1], b[::-1], 1, label_doc))
                elif swap:
                    pairs.append((b, a, 0 if bug.get("labels_inverted") else 1, label_doc))
                else:
                    pairs.append((a, b, 1 if bug.get("labels_inverted") else 0, label_doc))
        return pairs

    return sop_pairs


# q3 mutants -----------------------------------------------------------------------------------


def _round_robin(n_layers: int, groups: int, inner: int) -> list:
    return [(i % groups, j) for i in range(n_layers) for j in range(inner)]


def _inner_ignored(n_layers: int, groups: int, inner: int) -> list:
    return [(int(i / (n_layers / groups)), 0) for i in range(n_layers)]


def _integer_block(n_layers: int, groups: int, inner: int) -> list:
    size = n_layers // groups  # wrong when groups does not divide the layers
    return [(i // size, j) for i in range(n_layers) for j in range(inner)]


def _inner_splits_depth(n_layers: int, groups: int, inner: int) -> list:
    steps = n_layers // inner  # reads inner_group_num as "layers per group" out of L
    return [(int(i / (steps / groups)), j) for i in range(steps) for j in range(inner)]


MUTANTS: dict[str, tuple[str, Callable[..., Any]]] = {
    "groups called round robin": ("layer_schedule", _round_robin),
    "inner_group_num ignored": ("layer_schedule", _inner_ignored),
    "integer block size L // G": ("layer_schedule", _integer_block),
    "inner layers counted inside L": ("layer_schedule", _inner_splits_depth),
    "no pooler": ("count_parameters", _counter(no_pooler=True)),
    "projection without bias": ("count_parameters", _counter(no_projection_bias=True)),
    "no projection": ("count_parameters", _counter(no_projection=True)),
    "projection only when E < H": ("count_parameters", _counter(projection_only_if_e_lt_h=True)),
    "token table V x H despite factorization": ("count_parameters", _counter(table_width_h=True)),
    "position and segment tables of width H": (
        "count_parameters",
        _counter(positions_width_h=True),
    ),
    "segment table forgotten": ("count_parameters", _counter(no_segments=True)),
    "embedding LayerNorm forgotten": ("count_parameters", _counter(no_embedding_norm=True)),
    "one LayerNorm per layer": ("count_parameters", _counter(one_norm_per_layer=True)),
    "no biases in the layers": ("count_parameters", _counter(no_biases=True)),
    "attention and FFN sharing swapped": ("count_parameters", _counter(swap_sharing=True)),
    "sharing ignored": ("count_parameters", _counter(ignore_sharing=True)),
    "never swapped": ("sop_pairs", _sop(rate=0.0)),
    "always swapped": ("sop_pairs", _sop(rate=1.0)),
    "swapped with probability 0.3": ("sop_pairs", _sop(rate=0.3)),
    "labels inverted": ("sop_pairs", _sop(labels_inverted=True)),
    "tokens reversed instead of segments swapped": ("sop_pairs", _sop(reverse_tokens=True)),
    "one stream across documents": ("sop_pairs", _sop(stream_across_documents=True)),
    "single-token remainder dropped": ("sop_pairs", _sop(drop_single_token=True)),
    "short last chunk dropped": ("sop_pairs", _sop(drop_short_last=True)),
    "cut after segment_len tokens, not in the middle": ("sop_pairs", _sop(cut_at_segment_len=True)),
    "overlapping chunks": ("sop_pairs", _sop(overlapping=True)),
    "seed ignored (global random)": ("sop_pairs", _sop(global_random=True)),
    "alternating swaps": ("sop_pairs", _sop(alternate=True)),
    "document index counts kept documents only": ("sop_pairs", _sop(index_among_kept=True)),
    "chunks of segment_len tokens": ("sop_pairs", _sop(chunk_is_segment_len=True)),
}


def test_correct_builders_pass(tests, solution_env):
    """The mutant builders differ from correct code only in their bug; and the course's own
    functions (other correct answers) pass too."""
    from course_utils import albert

    def course_sop(documents, segment_len, seed):
        return [tuple(p) for p in albert.sop_pairs(documents, segment_len, seed)]

    for env in (
        {"count_parameters": _counter(), "sop_pairs": _sop()},
        {"sop_pairs": course_sop},
    ):
        for question in ("q1", "q2", "q3"):
            result = run_question(tests[question], {**solution_env, **env})
            assert result.score == result.possible, (question, result.summary())


class TestMutants(MutantChecks):
    """The checks every chapter shares (exercise_fixtures.mutants), for this chapter's mutants."""

    CHAPTER, QUESTION_OF, MUTANTS = CHAPTER, QUESTION_OF, MUTANTS
