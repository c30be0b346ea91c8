"""course_utils.downstream (SST-2 harness) and the course's offline GLUE metric module."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from course_utils import downstream, metrics
from course_utils.errors import CourseError


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def sst2_offline(offline, monkeypatch, shared_data_dir):
    monkeypatch.setenv("COURSE_DATA_DIR", str(shared_data_dir))


# ---------------------------------------------------------------- the metric module


def test_offline_glue_module_says_so_and_equals_scikit_learn(offline, capsys):
    metric = metrics.load_metric("glue", config_name="sst2")
    assert "the course's own evaluate module" in capsys.readouterr().out
    assert downstream.metric_implementation(metric) == "course"
    for seed in range(5):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(1, 900))
        references = rng.integers(0, 2, n)
        predictions = np.where(rng.random(n) < 0.7, references, 1 - references)
        result = metric.compute(predictions=predictions.tolist(), references=references.tolist())
        assert result == {"accuracy": pytest.approx(accuracy_score(references, predictions))}
    assert metric.compute(predictions=[0, 1, 1], references=[0, 1, 0]) == {
        "accuracy": pytest.approx(2 / 3)
    }


def test_offline_glue_module_refuses_what_it_cannot_score(offline):
    with pytest.raises(KeyError, match="cola"):
        metrics.load_metric("glue", config_name="cola", verbose=False)
    metric = metrics.load_metric("glue", config_name="sst2", verbose=False)
    with pytest.raises(ValueError, match="same length"):
        metric.compute(predictions=[], references=[])
    assert "glue" in metrics.local_metrics()


# ---------------------------------------------------------------- recipe and baselines


def test_recipes_are_budget_sized():
    ci, cpu = downstream.recipe("ci"), downstream.recipe("cpu")
    assert 100 <= ci.train_examples <= 1000  # a few hundred sentences: seconds
    assert ci.train_examples < cpu.train_examples <= 20_000
    assert downstream.recipe("gpu").train_examples is None  # the whole split
    assert downstream.recipe("ci", lr=2e-5).lr == 2e-5
    with pytest.raises(ValueError, match="warmup"):
        downstream.recipe("ci", warmup=1.5)
    with pytest.raises(ValueError, match="train_examples"):
        downstream.recipe("ci", train_examples=1)


def test_majority_baseline_is_50_9_percent_on_dev(sst2_offline):
    base = downstream.majority_baseline()
    assert base["majority_label"] == 1  # positive: 55.8% of the training rows
    assert base["train_share"] == pytest.approx(0.558, abs=5e-4)
    assert base["dev_examples"] == 872
    assert base["accuracy"] == pytest.approx(444 / 872)  # 50.9%


# ---------------------------------------------------------------- the harness


def test_finetune_course_checkpoint_and_random_init_at_ci_size(sst2_offline):
    tiny = downstream.recipe("ci", train_examples=64, max_length=32)
    runs = {
        init: downstream.finetune_sst2(
            "course-bert-small",
            init=init,
            budget="ci",
            seed=0,
            finetune_recipe=tiny,
            device="cpu",
            verbose=False,
        )
        for init in ("pretrained", "random")
    }
    for init, r in runs.items():
        assert r.init == init and r.model == "course-bert-small"
        assert r.train_examples == 64 and r.dev_examples == 872 and r.steps == 2
        assert 0.0 <= r.accuracy <= 1.0 and math.isfinite(r.extra["train_loss"])
        assert r.metric_implementation == "course" and r.budget == "ci"
    assert runs["pretrained"].n_params == runs["random"].n_params  # same architecture
    again = downstream.finetune_sst2(
        "course-bert-small",
        budget="ci",
        seed=0,
        finetune_recipe=tiny,
        device="cpu",
        verbose=False,
    )
    assert again.accuracy == runs["pretrained"].accuracy  # seeded: reproducible


def test_finetune_an_in_memory_electra_discriminator(sst2_offline, capsys):
    from course_utils.checkpoints import load_course_checkpoint
    from course_utils.electra import ElectraPretrainingModel

    _, tokenizer = load_course_checkpoint("course-bert-small")
    pair = ElectraPretrainingModel.for_tokenizer(tokenizer, "ci", seed=0)
    r = downstream.finetune_sst2(
        pair.discriminator,
        tokenizer,
        budget="ci",
        finetune_recipe=downstream.recipe("ci", train_examples=64),
        device="cpu",
    )
    out = capsys.readouterr().out
    assert "SST-2 dev accuracy" in out and "ElectraForPreTraining" in out
    assert r.model == "ElectraForPreTraining" and r.extra["max_length"] == 64  # ci block: 64
    assert 0.0 <= r.accuracy <= 1.0


def test_bad_input_is_refused_clearly(sst2_offline):
    from course_utils.electra import ElectraPretrainingModel, discriminator_config

    with pytest.raises(CourseError, match="Unknown model"):
        downstream.finetune_sst2("no-such-model", budget="ci", verbose=False)
    with pytest.raises(CourseError, match="Unknown init"):
        downstream.finetune_sst2("course-bert-small", init="zero", budget="ci")
    pair = ElectraPretrainingModel.from_configs(discriminator_config(100, "ci"))
    with pytest.raises(CourseError, match="tokenizer"):
        downstream.finetune_sst2(pair.discriminator, budget="ci", verbose=False)
    with pytest.raises(CourseError, match="Cannot fine-tune"):
        downstream.finetune_sst2(42, budget="ci", verbose=False)


# ---------------------------------------------------------------- every course checkpoint


def test_quality_command_writes_the_documented_file(sst2_offline, tmp_path, capsys):
    import json

    out = tmp_path / "checkpoint_quality.json"
    argv = ["quality", "--budget", "ci", "--seeds", "0", "1"]
    argv += ["--models", "course-bert-small", "--out", str(out)]
    assert downstream.main(argv) == 0
    q = json.loads(out.read_text(encoding="utf-8"))
    assert q["command"] == (
        "python -m course_utils.downstream quality --budget ci --seeds 0 1 "
        "--models course-bert-small --out checkpoint_quality.json"
    )  # no machine path
    assert q["budget"] == "ci" and q["seeds"] == [0, 1] and q["aim"] == downstream.AIM
    assert q["git_commit"] and downstream.FinetuneRecipe(**q["recipe"]) == downstream.recipe("ci")
    assert q["majority"]["accuracy"] == pytest.approx(444 / 872)
    row = q["checkpoints"]["course-bert-small"]
    for init in ("pretrained", "random"):
        runs = row[init]
        assert len(runs["accuracies"]) == 2 and len(runs["train_seconds"]) == 2
        assert runs["mean"] == pytest.approx(np.mean(runs["accuracies"]))
        assert runs["std"] == pytest.approx(np.std(runs["accuracies"], ddof=1))
        assert runs["steps"] == 10  # 320 sentences, batch 32, one epoch
    assert row["gain"] == pytest.approx(row["pretrained"]["mean"] - row["random"]["mean"])
    assert row["aim_met"] == (row["gain"] >= downstream.AIM)
    assert "course-bert-small: pretrained" in capsys.readouterr().out
    assert row["git_commit"] == q["git_commit"]
    assert set(row["probe"]) == {"pretrained", "random"}
    assert all(0.3 < v < 1 for v in row["probe"].values())
    assert row["vocabulary"] == downstream.vocabulary_fit("course-bert-small")
    with pytest.raises(CourseError, match="seeds"):  # --update keeps rows of one design only
        downstream.main(
            [*argv[:4], "0", "--models", "course-roberta-small", "--out", str(out), "--update"]
        )


def test_quality_refuses_unbuilt_checkpoints_and_empty_seeds(sst2_offline, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))  # nothing built there
    with pytest.raises(CourseError, match="not built"):
        downstream.checkpoint_quality(["course-bert-small"], budget="ci", out=None)
    with pytest.raises(CourseError, match="Unknown course checkpoint"):
        downstream.checkpoint_quality(["bert-base-uncased"], budget="ci", out=None)
    monkeypatch.delenv("COURSE_CHECKPOINT_DIR")
    with pytest.raises(CourseError, match="No seeds"):
        downstream.checkpoint_quality(["course-bert-small"], seeds=(), budget="ci", out=None)


# ---------------------------------------------------------------- why transfer is small


def test_word_split_rate_counts_words_cut_into_pieces():
    from course_utils.checkpoints import load_course_checkpoint

    _, tokenizer = load_course_checkpoint("course-bert-small")
    assert downstream.word_split_rate(tokenizer, ["the the the"]) == 0.0
    assert downstream.word_split_rate(tokenizer, ["the qzxvkjwq"]) == 0.5
    # short words, numbers and punctuation do not count
    assert downstream.word_split_rate(tokenizer, ["a , 1984 qzxvkjwq"]) == 1.0
    with pytest.raises(ValueError, match="no alphabetic"):
        downstream.word_split_rate(tokenizer, ["a , 12"])


def test_mean_pooled_features_ignore_padding():
    import torch
    from transformers import AutoModel, AutoTokenizer

    from course_utils.checkpoints import checkpoint_dir

    tokenizer = AutoTokenizer.from_pretrained(checkpoint_dir("course-bert-small"))
    model = AutoModel.from_pretrained(checkpoint_dir("course-bert-small"))
    short, long = "a fine film .", "a long , slow and rather dull film about nothing much ."
    together = downstream.mean_pooled_features(model, tokenizer, [short, long])
    alone = downstream.mean_pooled_features(model, tokenizer, [short])
    assert together.shape == (2, model.config.hidden_size)
    np.testing.assert_allclose(together[0], alone[0], atol=1e-5)  # padding changes nothing
    with torch.no_grad():
        batch = tokenizer([long], return_tensors="pt")
        expected = model(**batch).last_hidden_state[0].mean(0).numpy()
    np.testing.assert_allclose(together[1], expected, atol=1e-5)


def test_linear_probe_reads_frozen_features(sst2_offline):
    pretrained = downstream.linear_probe("course-bert-small", "pretrained", budget="ci")
    again = downstream.linear_probe("course-bert-small", "pretrained", budget="ci")
    assert pretrained == again and 0.3 < pretrained < 1  # deterministic
    with pytest.raises(CourseError, match="Unknown init"):
        downstream.linear_probe("course-bert-small", "frozen", budget="ci")
