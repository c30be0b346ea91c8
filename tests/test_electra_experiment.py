"""The ELECTRA equal-compute experiment: the command at the ci budget, the committed results,
the unigram generator and the one-sentence walk-through of chapter 4."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from course_utils import electra
from course_utils.flops import train_flops_per_step

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / electra.RESULTS_FILE
ELECTRA_KEYS = {
    "generator_accuracy",
    "replaced_fraction",
    "disc_accuracy",
    "disc_precision",
    "disc_recall",
    "disc_auc",
    "mlm_loss",
    "disc_loss",
}


def check_results(results: dict, budget: str, seeds: list[int], ablation_seeds: list[int]):
    """What every results file must hold, and equal compute between MLM and ELECTRA."""
    assert results["budget"] == budget and results["plan"]["budget"] == budget
    assert results["seeds"] == seeds and results["ablation_seeds"] == ablation_seeds
    assert results["command"].startswith("python -m course_utils.electra experiment")
    assert f"--budget {budget}" in results["command"]
    assert results["git_commit"] is None or len(results["git_commit"]) == 40
    eq = results["equal_compute"]
    electra_total = eq["electra_steps"] * eq["electra_flops_per_step"]
    mlm_total = eq["mlm_steps"] * eq["mlm_flops_per_step"]
    # equal compute up to the rounding of the MLM step count (half an MLM step)
    assert abs(mlm_total - electra_total) <= eq["mlm_flops_per_step"] / 2
    assert eq["electra_flops_per_step"] > eq["mlm_flops_per_step"]  # hence more MLM steps
    runs = results["runs"]
    main = {(r["objective"], r["seed"]) for r in runs if r["generator"] in (None, "1/4")}
    assert main == {(o, s) for o in ("mlm", "electra") for s in seeds}
    for r in runs:
        assert r["train_flops"] == pytest.approx(r["steps"] * r["train_flops_per_step"])
        assert 0.0 <= r["sst2"]["accuracy"] <= 1.0 and r["sst2"]["steps"] > 0
        if r["objective"] == "mlm":
            assert r["steps"] == eq["mlm_steps"] and r["train_flops"] == pytest.approx(mlm_total)
            assert {"loss", "accuracy"} <= set(r["valid"])
        else:
            assert r["steps"] == eq["electra_steps"]
            assert ELECTRA_KEYS <= set(r["valid"])
            assert 0 < r["valid"]["replaced_fraction"] < electra.MASK_PROB
        assert r["curve"][-1]["step"] == r["steps"]
    ablation = {(r["generator"], r["seed"]) for r in runs if r["objective"] == "electra"}
    for g in results["ablation_generators"]:
        for s in ablation_seeds:
            assert (g, s) in ablation, f"ablation run {g} seed {s} missing"
    per_step = {
        r["generator"]: r["train_flops_per_step"] for r in runs if r["objective"] == "electra"
    }
    assert per_step["unigram"] < per_step["1/4"] < per_step["1/2"] < per_step["1x"]
    assert [r["seed"] for r in results["random_init"]] == seeds
    assert results["majority"]["accuracy"] == pytest.approx(444 / 872)
    assert results["finetune_recipe"]["train_examples"] == results["plan"]["finetune_examples"]


def test_experiment_command_at_ci_budget(tmp_path, shared_data_dir, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA_DIR", str(shared_data_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "electra.json"
    args = ["experiment", "--budget", "ci", "--seeds", "0", "1", "--ablation-seeds", "0"]
    assert electra.main([*args, "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    check_results(results, "ci", [0, 1], [0])
    assert results["command"] == "python -m course_utils.electra " + " ".join(
        [*args, "--out", str(out)]
    )
    printed = capsys.readouterr().out
    assert "equal compute: ELECTRA" in printed and "wrote" in printed
    # the chapter's tables read any results file
    table = electra.equal_compute_table(results)
    assert list(table.index) == [
        "MLM (BERT-style)",
        "ELECTRA",
        "none (random init)",
        "majority class",
    ]
    assert table.loc["ELECTRA", "seeds"] == 2
    assert list(electra.ablation_table(results).index) == list(electra.ABLATION_GENERATORS)
    assert len(electra.pretraining_table(results)) == 4


@pytest.mark.skipif(not COMMITTED.is_file(), reason="results file not committed yet")
def test_committed_results_are_a_cpu_run_with_three_seeds():
    results = electra.load_results(COMMITTED, verbose=False)
    check_results(results, "cpu", [0, 1, 2], results["ablation_seeds"])
    assert results["plan"] == electra.asdict(electra.experiment_plan("cpu"))
    assert len(results["ablation_seeds"]) >= 1


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="seeds is empty"):
        electra.run_experiment("ci", seeds=[], log=None)
    with pytest.raises(ValueError, match="unknown generators"):
        electra.run_experiment("ci", seeds=[0], ablation=["1/8"], log=None)
    with pytest.raises(SystemExit):
        electra.main(["experiment", "--budget", "huge"])


# ---------------------------------------------------------------- the unigram generator


def test_unigram_generator_samples_frequencies_and_costs_nothing():
    counts = torch.tensor([0, 0, 50, 30, 20, 0, 0, 0])  # ids 0-1 special, 5-7 unseen
    uni = electra.UnigramGenerator(counts, exclude_ids=[2])
    assert not list(uni.parameters())
    labels = torch.full((4, 64), -100)
    labels[:, ::2] = 3
    out = uni.loss(labels)
    assert out.logits.shape == (128, 8) and out.labels.shape == (128,)
    assert out.loss.item() == pytest.approx(-math.log(30 / 50))  # p(3) = 30/(30+20)
    draws = electra.sample_replacements(
        uni.log_probs.expand(20_000, -1), generator=torch.Generator().manual_seed(0)
    )
    freq = torch.bincount(draws, minlength=8).double() / draws.numel()
    assert torch.allclose(freq, torch.tensor([0, 0, 0, 0.6, 0.4, 0, 0, 0]).double(), atol=0.02)
    with pytest.raises(ValueError, match="all zero"):
        electra.UnigramGenerator(torch.tensor([0, 5]), exclude_ids=[1])


def test_pair_with_unigram_generator_trains_the_discriminator_only():
    from transformers import ElectraForPreTraining

    tok = electra._experiment_tokenizer()
    plan = electra.experiment_plan("ci")
    ids = torch.randint(5, len(tok), (4, plan.block), generator=torch.Generator().manual_seed(0))
    blocks = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    pair = electra.ElectraPretrainingModel(
        electra.UnigramGenerator.from_blocks(blocks, tok),
        ElectraForPreTraining(electra._disc_config(plan, tok)),
    )
    assert train_flops_per_step(pair, 4, plan.block) == train_flops_per_step(
        pair.discriminator, 4, plan.block
    )
    batch = electra.make_electra_eval_batches(blocks, tok, 4)[0]
    out = electra.electra_loss(pair, batch)
    out.loss.backward()
    assert all(p.grad is not None for p in pair.discriminator.parameters() if p.requires_grad)
    assert set(out.sampled.tolist()) <= set(ids.flatten().tolist())  # only seen tokens


# ---------------------------------------------------------------- chapter 4's walk-through


def test_one_sentence_shows_both_labels_and_both_losses():
    from transformers import ElectraForPreTraining

    tok = electra._experiment_tokenizer()
    plan = electra.experiment_plan("ci")
    counts = torch.ones(len(tok))
    counts[tok.convert_tokens_to_ids("the")] = len(tok)  # "the" drawn half of the time
    pair = electra.ElectraPretrainingModel(
        electra.UnigramGenerator(counts, tok.all_special_ids),
        ElectraForPreTraining(electra._disc_config(plan, tok)),
    )
    text = "The museum was built in the nineteenth century and is now one of the most visited."
    ex = electra.one_sentence(pair, tok, text, seed=0)
    assert set(ex.table["label"]) == {"replaced", "original"}
    kept = ex.table[ex.table["label"] == "original"]
    assert (kept["sample"] == kept["original"]).all()  # a correct sample is labelled original
    changed = [i for i, (a, b) in enumerate(zip(ex.tokens, ex.corrupted, strict=True)) if a != b]
    assert changed == [i for i, r in enumerate(ex.is_replaced) if r]
    assert ex.total_loss == pytest.approx(ex.mlm_loss + electra.DISC_WEIGHT * ex.disc_loss)
    assert len(ex.replaced_prob) == len(ex.tokens) and all(0 <= p <= 1 for p in ex.replaced_prob)
    again = electra.one_sentence(pair, tok, text, seed=0)
    assert again.seed == ex.seed and again.table.equals(ex.table)  # deterministic
    html = electra.detection_html(ex.corrupted, ex.replaced_prob, ex.is_replaced)
    assert html.count("<span") == len(ex.tokens) and "underline" in html


SHORTCUT = Path(__file__).resolve().parents[1] / electra.SHORTCUT_FILE


def check_shortcut(results: dict, budget: str) -> None:
    plan = electra.experiment_plan(budget)
    assert results["budget"] == budget and results["git_commit"]
    assert set(results["curves"]) == set(electra.SHORTCUT_GENERATORS)
    for rows in results["curves"].values():
        assert rows[0]["step"] == 0 and rows[-1]["step"] == plan.electra_steps
        assert all(0 <= r["disc_auc"] <= 1 and 0 < r["replaced_fraction"] < 0.16 for r in rows)
    table = electra.shortcut_table(results)
    assert list(table.columns) == ["uniform replacements", "unigram replacements"]
    assert list(table.index) == [r["step"] for r in results["curves"]["uniform"]]


def test_shortcut_command_at_ci_budget(tmp_path, shared_data_dir, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA_DIR", str(shared_data_dir))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "shortcut.json"
    assert electra.main(["shortcut", "--budget", "ci", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    check_shortcut(results, "ci")
    assert results["command"] == f"python -m course_utils.electra shortcut --budget ci --out {out}"
    assert "uniform: held-out ROC-AUC" in capsys.readouterr().out


def test_committed_shortcut_run_and_chapter_prose():
    import re

    import nbformat

    results = electra.load_shortcut(SHORTCUT, verbose=False)
    check_shortcut(results, "cpu")
    assert results["command"] == (
        "python -m course_utils.electra shortcut --budget cpu --out results/electra_shortcut.json"
    )
    uniform, unigram = results["curves"]["uniform"], results["curves"]["unigram"]
    nb = nbformat.read(SHORTCUT.parents[1] / "notebooks" / "04_electra.ipynb", as_version=4)
    text = re.sub(r"\s+", " ", " ".join(c.source for c in nb.cells if c.cell_type == "markdown"))
    first = uniform[1]
    quotes = [
        f"after {first['step']:,} steps it ranks them with a ROC-AUC of {first['disc_auc']:.2f}",
        f"and {uniform[-1]['disc_auc']:.2f} after {uniform[-1]['step']:,}",
        f"ends at {unigram[-1]['disc_auc']:.2f}",
    ]
    for quoted in quotes:
        assert quoted in text, f"04_electra.ipynb should say {quoted!r} ({SHORTCUT.name})"
    # the claims: identity is learned at once, context is not
    assert first["disc_auc"] > 0.75 and uniform[-1]["disc_auc"] > 0.8
    assert unigram[-1]["disc_auc"] < 0.65 and abs(unigram[0]["disc_auc"] - 0.5) < 0.1
