"""course_utils.finetune: chapter 7's helpers and its committed family comparison."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from course_utils import finetune

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ROOT / "results" / "finetune_families.json"


def test_padding_stats_counts_tokens():
    stats = finetune.padding_stats([3, 5, 2, 2, 9], batch_size=2, max_length=8)
    # batches [3, 5] -> 2 x 5, [2, 2] -> 2 x 2, [8] (9 truncated) -> 1 x 8
    assert stats["real_tokens"] == 3 + 5 + 2 + 2 + 8
    assert stats["dynamic_tokens"] == 10 + 4 + 8
    assert stats["fixed_tokens"] == 5 * 8
    assert stats["dynamic_padding_share"] == pytest.approx(1 - 20 / 22)
    assert stats["fixed_padding_share"] == pytest.approx(1 - 20 / 40)


def test_negation_and_word_counts():
    assert finetune.has_negation("it is n't a good film .")
    assert finetune.has_negation("Never again")
    assert not finetune.has_negation("a nothingness of a film")  # words, not substrings
    assert finetune.word_counts(["a b c", "d"]).tolist() == [3, 1]


def test_batch_size_from_memory():
    assert finetune.batch_size_from_memory(None, 10.0) == 32  # CPU: the recipe's batch
    assert finetune.batch_size_from_memory(14.0, 20.0) == 256  # capped
    assert finetune.batch_size_from_memory(1.0, 20.0) == 16  # 512 MiB / 20 MiB = 25 -> 16
    assert finetune.batch_size_from_memory(0.01, 20.0) == 8  # never below the floor


def test_summarise():
    s = finetune.summarise([0.5, 0.7, 0.6])
    assert s["mean"] == pytest.approx(0.6) and s["std"] == pytest.approx(0.1)
    assert (s["min"], s["max"], s["n"]) == (0.5, 0.7, 3)


def test_freeze_encoder_leaves_only_the_head():
    model, _, _ = finetune.load_classifier("course-roberta-small")
    trainable = finetune.freeze_encoder(model)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all(n.startswith("classifier.") for n in names)
    assert trainable == sum(p.numel() for n, p in model.named_parameters() if n in names)


def test_load_classifier_without_dropout():
    model, tokenizer, name = finetune.load_classifier("course-bert-small", dropout=False)
    assert name == "course-bert-small" and len(tokenizer) == model.config.vocab_size
    assert model.config.hidden_dropout_prob == model.config.attention_probs_dropout_prob == 0


def test_families_rerun_at_ci_budget(tmp_path, shared_data_dir, monkeypatch):
    """The command behind results/finetune_families.json runs end to end (ci sizes)."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(shared_data_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "families.json"
    course = finetune.available_checkpoints()
    result = finetune.run_families("ci", seeds=2, out=out, models=course[:1])
    written = json.loads(out.read_text())
    assert written["budget"] == "ci" and written["seeds"] == [0, 1]
    assert [(r["model"], r["init"]) for r in written["table"]] == [
        (course[0], "pretrained"), (course[0], "random"),
    ]  # fmt: skip
    assert len(written["runs"]) == 2 * 2  # 2 seeds x (pretrained, random)
    points = written["lr_sweep"]["points"]
    assert [p["lr"] for p in points] == list(finetune.families_plan("ci").sweep_lrs)
    assert all(len(p["accuracies"]) == 2 for p in points)  # one run per seed and lr
    assert 0.45 < written["majority"]["accuracy"] < 0.55
    assert result["lr_sweep"]["model"] == course[0]


@pytest.mark.skipif(not FAMILIES.exists(), reason="results/finetune_families.json not built yet")
def test_committed_families_file_is_consistent():
    """Every summary in the committed file is the summary of its own runs."""
    data = json.loads(FAMILIES.read_text())
    assert data["budget"] in ("cpu", "gpu") and len(data["seeds"]) >= 3
    assert data["command"].startswith("python scripts/finetune.py families")
    for row in data["table"]:
        runs = [r["accuracy"] for r in data["runs"]
                if (r["model"], r["init"]) == (row["model"], row["init"])]  # fmt: skip
        assert len(runs) == len(data["seeds"]) == row["accuracy"]["n"]
        assert row["accuracy"]["mean"] == pytest.approx(np.mean(runs))
    for point in data["lr_sweep"]["points"]:
        assert point["accuracy"]["mean"] == pytest.approx(np.mean(point["accuracies"]))
    assert {p["split"] for p in data["published"]} == {"dev", "test"}
