"""Chapter 7 (fine-tuning) exercises: the hidden tests catch plausible wrong answers (mutants).

As in test_exercises_06.py: every case runs otter's test files in this process against the
solution notebook's namespace with one function replaced, then again across the sandboxed
grader's plain-data boundary (`loopback_env`). The generic checks (solutions pass, stubs fail
only with NotImplementedError, notebooks run) are in test_exercises.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from exercise_fixtures.mutants import MutantChecks, chapter_fixtures
from exercise_fixtures.submissions import run_question
from sklearn.metrics import f1_score
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from course_utils.checkpoints import checkpoint_dir

CHAPTER = "07_finetuning"
QUESTION_OF = {"compute_metrics": "q1", "encode": "q2", "trainable_parameters": "q3"}
TOKENIZER = AutoTokenizer.from_pretrained(checkpoint_dir("course-bert-small"))
KEYS = ("input_ids", "token_type_ids", "attention_mask")


tests, solution_env = chapter_fixtures(CHAPTER)


# q1 mutants -----------------------------------------------------------------------------------


def _metrics(predict: Callable, f1: Callable | None = None, scale: float = 1.0) -> Callable:
    def compute_metrics(eval_pred):
        logits, labels = eval_pred
        labels = np.asarray(labels)
        predictions = predict(np.asarray(logits))
        f = (f1 or (lambda y, p: f1_score(y, p, zero_division=0.0)))(labels, predictions)
        return {"accuracy": scale * float((predictions == labels).mean()), "f1": float(f)}

    return compute_metrics


def _argmax(logits):
    return logits.argmax(-1)


def _nan_f1(labels, predictions):
    tp = float(((predictions == 1) & (labels == 1)).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.float64(tp) / (predictions == 1).sum()
        recall = np.float64(tp) / (labels == 1).sum()
        return 2 * precision * recall / (precision + recall)


# q2 mutants -----------------------------------------------------------------------------------


def _encoder(**kwargs: Any) -> Callable:
    def encode(first, second, max_length):
        options = {"truncation": True, "max_length": max_length, "padding": True} | kwargs
        batch = TOKENIZER(first, second, **options)
        return {key: [list(map(int, row)) for row in batch[key]] for key in KEYS}

    return encode


def _joined_pair(first, second, max_length):
    pairs = zip(first, second or first, strict=True)
    texts = first if second is None else [f"{a} [SEP] {b}" for a, b in pairs]
    return _encoder()(texts, None, max_length)


def _ignores_second(first, second, max_length):
    return _encoder()(first, None, max_length)


# q3 mutants -----------------------------------------------------------------------------------


def _trainable(freeze_fn: Callable) -> Callable:
    def trainable_parameters(model_dir, freeze):
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2)
        if freeze:
            freeze_fn(model)
        return {n: p.numel() for n, p in model.named_parameters() if p.requires_grad}

    return trainable_parameters


def _by_bert_name(model):
    for name, p in model.named_parameters():
        if name.startswith("bert."):
            p.requires_grad = False


def _layers_only(model):
    for p in model.base_model.encoder.parameters():
        p.requires_grad = False


def _everything(model):
    for p in model.parameters():
        p.requires_grad = False


def _eval_mode(model):
    model.eval()


def _all_listed(model_dir, freeze):
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2)
    for p in model.base_model.parameters():
        p.requires_grad = not freeze
    return {n: p.numel() for n, p in model.named_parameters()}


MUTANTS: dict[str, tuple[str, Callable[..., Any]]] = {
    "macro F1": (
        "compute_metrics", _metrics(_argmax, lambda y, p: f1_score(y, p, average="macro")),
    ),
    "F1 of the negative class": (
        "compute_metrics", _metrics(_argmax, lambda y, p: f1_score(1 - y, 1 - p)),
    ),
    "ties predict positive (>=)": ("compute_metrics", _metrics(lambda z: (z[:, 1] >= z[:, 0]))),
    "positive when logit 1 > 0": ("compute_metrics", _metrics(lambda z: (z[:, 1] > 0))),
    "accuracy in percent": ("compute_metrics", _metrics(_argmax, scale=100.0)),
    "NaN F1 without positives": ("compute_metrics", _metrics(_argmax, _nan_f1)),
    "no truncation": ("encode", _encoder(truncation=False)),
    "padding to max_length": ("encode", _encoder(padding="max_length")),
    "truncates only the second sentence": ("encode", _encoder(truncation="only_second")),
    "truncates only the first sentence": ("encode", _encoder(truncation="only_first")),
    "pair joined into one string": ("encode", _joined_pair),
    "second sentence ignored": ("encode", _ignores_second),
    "freezes names starting with bert.": ("trainable_parameters", _trainable(_by_bert_name)),
    "freezes the layers, not embeddings/pooler": (
        "trainable_parameters", _trainable(_layers_only),
    ),
    "freezes the head too": ("trainable_parameters", _trainable(_everything)),
    "model.eval() instead of freezing": ("trainable_parameters", _trainable(_eval_mode)),
    "lists frozen parameters too": ("trainable_parameters", _all_listed),
}  # fmt: skip


def test_correct_alternatives_pass(tests, solution_env):
    """scikit-learn's metrics and a name-based freeze of everything but the head pass."""

    def sklearn_metrics(eval_pred):
        logits, labels = eval_pred
        predictions = np.argmax(logits, axis=-1)
        return {"accuracy": float(np.mean(predictions == np.asarray(labels))),
                "f1": float(f1_score(labels, predictions, zero_division=0.0))}  # fmt: skip

    def by_prefix(model):
        prefix = model.base_model_prefix + "."
        for name, p in model.named_parameters():
            p.requires_grad = not name.startswith(prefix)

    env = {**solution_env, "compute_metrics": sklearn_metrics,
           "trainable_parameters": _trainable(by_prefix), "encode": _encoder()}  # fmt: skip
    for question in ("q1", "q2", "q3"):
        result = run_question(tests[question], env)
        assert result.score == result.possible, question


class TestMutants(MutantChecks):
    """The checks every chapter shares (exercise_fixtures.mutants), for this chapter's mutants."""

    CHAPTER, QUESTION_OF, MUTANTS = CHAPTER, QUESTION_OF, MUTANTS
