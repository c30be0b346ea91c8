"""Chapter 5 (ALBERT): the experiment command at ci, the committed results, and the prose numbers.

Every number the chapter's prose states is either a parameter count (recomputed here by
`albert.count_parameters`, itself tested against the models) or read from the committed
results/albert_experiments.json.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from course_utils import albert

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "notebooks" / "05_albert.ipynb"
COMMITTED = ROOT / albert.RESULTS_FILE


def _prose() -> str:
    nb = nbformat.read(CHAPTER, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return re.sub(r"\s+", " ", text)


def _m(n: int) -> str:
    return f"{n / 1e6:.1f}M"


def _check_results(results: dict) -> None:
    """What every results file must hold."""
    assert results["command"].startswith("python -m course_utils.albert experiment")
    assert results["git_commit"] and results["seed"] == 0
    assert [row["model"] for row in results["timing"]] == list(albert.PAPER_TABLE1)
    for row in results["timing"]:
        assert 0 < row["seconds_1_layer"] and 0 < row["seconds_extrapolated"]
        config = albert.paper_config(row["model"])
        assert row["params"] == albert.count_parameters(config)["total"]
    assert set(results["runs"]) == {"albert-sop", "albert-nsp", "not-shared-sop"}
    for run in results["runs"].values():
        for key in ("sop_accuracy", "nsp_accuracy", "mlm_accuracy"):
            assert 0 <= run["final"][key] <= 1 and 0 <= run["untrained"][key] <= 1
    shared, not_shared = results["runs"]["albert-sop"], results["runs"]["not-shared-sop"]
    assert shared["n_params"] < not_shared["n_params"]
    layers = results["plan"]["layers"]
    for name, rows in results["similarity"].items():
        assert [r["layer"] for r in rows] == list(range(1, layers + 1)), name
        assert all(-1 <= r["cosine"] <= 1 and r["l2"] >= 0 for r in rows), name


def test_the_command_runs_at_ci(tmp_path: Path, shared_data_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("COURSE_DATA_DIR", str(shared_data_dir))
    out = tmp_path / "albert.json"
    assert albert.main(["experiment", "--budget", "ci", "--out", str(out)]) == 0
    results = json.loads(out.read_text(encoding="utf-8"))
    _check_results(results)
    assert results["budget"] == "ci"
    assert results["command"] == f"python -m course_utils.albert experiment --budget ci --out {out}"


def test_committed_results() -> None:
    results = json.loads(COMMITTED.read_text(encoding="utf-8"))
    _check_results(results)
    assert results["budget"] == "cpu"
    assert results["command"] == (
        "python -m course_utils.albert experiment --budget cpu "
        "--out results/albert_experiments.json"
    )


def test_prose_states_the_counts() -> None:
    text = _prose()
    count = albert.count_parameters
    bert = count(albert.paper_config("BERT-base"))["total"]
    base = count(albert.albert_base_config())
    table = {name: albert.paper_config(name) for name in albert.PAPER_TABLE1}
    full = {name: count(c)["total"] for name, c in table.items()}
    no_pool = {name: count(c, pooler=False)["total"] for name, c in table.items()}
    e768 = albert.albert_base_config(embedding_size=768)
    saving = count(e768)["total"] - base["total"]
    quotes = [
        f"{bert:,} for `BertModel(BertConfig())`",
        f"{base['total']:,} for albert-base-v2",
        f"one layer of {base['encoder']:,} parameters instead of twelve",
        f"BERT-large drops to {_m(no_pool['BERT-large'])}, the paper's 334M",
        f"BERT-base to {_m(no_pool['BERT-base'])} against the paper's 108M",
        f"ALBERT-base ({_m(full['ALBERT-base'])}, paper 12M)",
        f"ALBERT-large ({_m(full['ALBERT-large'])}, paper 18M)",
        f"ALBERT-xlarge comes to {_m(full['ALBERT-xlarge'])} against the paper's 60M",
        f"gives {_m(full['ALBERT-xxlarge'])}, against the paper's 235M",
        f"a gap of {(235e6 - full['ALBERT-xxlarge']) / 1e6:.1f}M",
        f"Counting the released configuration gives {_m(full['ALBERT-xxlarge'])}",
        f'except "not shared" ({_m(count(e768, "none", pooler=False)["total"])} against 108M)',
        f"saves the same {_m(saving)} in every sharing variant",
        f"saves {_m(saving)} parameters at base size",
        f"({_m(full['ALBERT-xxlarge'])} counted against the paper's 235M)",
    ]
    for quoted in quotes:
        assert quoted in text, f"05_albert.ipynb should say {quoted!r}"
    # the saving splits as the prose says: 30000 x 640 table entries + positions, segments,
    # LayerNorm - the smaller projection
    assert saving == 30000 * 640 + 512 * 640 + 2 * 640 + 2 * 640 + (768 - 128) * 768


@pytest.fixture(scope="module")
def committed() -> dict:
    return json.loads(COMMITTED.read_text(encoding="utf-8"))


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def albert_checkpoint_dir() -> Path:
    from course_utils.checkpoints import checkpoint_dir

    return checkpoint_dir("course-albert-small")


def test_prose_states_the_committed_results(committed: dict) -> None:
    text = _prose()
    runs, plan = committed["runs"], committed["plan"]
    timing = {row["model"]: row for row in committed["timing"]}
    sim = committed["similarity"]
    large = timing["BERT-large"]["seconds_extrapolated"]

    def t(name: str) -> float:
        return timing[name]["seconds_extrapolated"]

    def gflop(name: str) -> float:
        return timing[name]["forward_gflops"]

    sop, nsp = runs["albert-sop"]["final"], runs["albert-nsp"]["final"]
    not_shared = runs["not-shared-sop"]["final"]
    ratio = timing["BERT-base"]["params"] / timing["ALBERT-base"]["params"]
    sst2 = committed["sst2"]

    def cos_l2(name: str, key: str) -> list[str]:
        return [f"{row[key]:.2f}" for row in sim[name]]

    quotes = [
        f"trained for {plan['steps']:,} steps of {plan['batch_size']} pairs of up to "
        f"{plan['block']} tokens",
        f"course-bert-small's shape ({plan['layers']} layers",
        f"after {plan['steps']:,} steps (about {sop['tokens_seen'] / 1e6:.0f}M tokens)",
        f"differ by a factor of {ratio:.0f} between BERT-base",
        f"{4 * timing['BERT-base']['params'] / 1e6:.0f} MB of float32 weights against "
        f"{4 * timing['ALBERT-base']['params'] / 1e6:.0f} MB",
        f"ALBERT-base does {gflop('ALBERT-base'):.1f} GFLOP per sequence",
        f"does {gflop('ALBERT-xxlarge') / gflop('BERT-large'):.1f} times its FLOPs",
        f"({t('ALBERT-base'):.2f} s against {t('BERT-base'):.2f} s",
        f"is measured {large / t('ALBERT-xxlarge'):.1f} against the paper's 0.3",
        f"{_pct(sop['mlm_accuracy'])} (ALBERT + SOP), {_pct(nsp['mlm_accuracy'])} (ALBERT + NSP) "
        f"and {_pct(not_shared['mlm_accuracy'])} (not shared + SOP)",
        f"it scores {_pct(sop['sop_accuracy'])} on SOP and {_pct(sop['nsp_accuracy'])} on NSP",
        f"(the not-shared copy: {_pct(not_shared['sop_accuracy'])} on SOP)",
        f"The NSP-trained model learned NSP, {_pct(nsp['nsp_accuracy'])}, and scores "
        f"{_pct(nsp['sop_accuracy'])} on SOP",
        f"SOP {_pct(sst2['albert-sop']['mean'])}, ALBERT + NSP {_pct(sst2['albert-nsp']['mean'])}, "
        f"the same architecture from random weights {_pct(sst2['random-init']['mean'])}",
        "(cosine similarity {} at layer 1 and {} at layer 2; L2 distance {}, then {})".format(
            *cos_l2("albert-sop", "cosine"), *cos_l2("albert-sop", "l2")
        ),
        "(cosine {}, then {}; L2 distance {}, then {})".format(
            *cos_l2("not-shared-sop", "cosine"), *cos_l2("not-shared-sop", "l2")
        ),
        "the shared model goes from cosine {} to {}".format(
            *cos_l2("albert-sop (untrained)", "cosine")
        ),
        "the not-shared one from {} to {}".format(*cos_l2("not-shared-sop (untrained)", "cosine")),
        f"reached {_pct(nsp['sop_accuracy'])} on SOP",  # the summary
    ]
    for quoted in quotes:
        assert quoted in text, f"05_albert.ipynb should say {quoted!r} ({COMMITTED.name})"
    # the prose's claims about these numbers: all three off the plateau, the SOP models at
    # chance on both pair tasks, the NSP model well above chance on both, no SST-2 gain, the
    # shared model's second step smaller than its first
    for run in runs.values():
        assert run["final"]["mlm_accuracy"] > 0.25
    for run in (sop, not_shared):
        assert abs(run["sop_accuracy"] - 0.5) < 0.03
    assert abs(sop["nsp_accuracy"] - 0.5) < 0.03
    assert nsp["sop_accuracy"] > 0.65 and nsp["nsp_accuracy"] > 0.65
    assert sst2["albert-sop"]["mean"] < sst2["random-init"]["mean"]
    assert sst2["albert-nsp"]["mean"] < sst2["random-init"]["mean"]
    assert plan["layers"] == 2 and committed["data"]["valid_pairs"]["sop"] >= 256
    assert len(sst2["albert-sop"]["accuracies"]) == plan["sst2_seeds"] == 3
    card = json.loads((albert_checkpoint_dir() / "metrics.json").read_text(encoding="utf-8"))
    at_mask = card["valid_accuracy_by_target_kind"]["mask token"]["accuracy"]
    assert f"held-out accuracy at `[MASK]` is {_pct(at_mask)}" in text
    assert f"{_pct(card['unigram_baseline']['accuracy'])} of always guessing" in text


def test_load_results_reads_the_committed_file_and_explains_a_missing_one(tmp_path, capsys):
    from course_utils.errors import CourseError

    assert albert.load_results()["budget"] == "cpu"
    assert "committed file" in capsys.readouterr().out
    with pytest.raises(CourseError, match="No results file"):
        albert.load_results(str(tmp_path / "missing.json"))


# ---------------------------------------------------------------- the boundary check

BOUNDARY = ROOT / albert.BOUNDARY_FILE
SPLITS = ("sop", "nsp", "sop, split at a sentence end")


def test_sentence_aligned_resplits_each_chunk_after_a_sentence_end() -> None:
    chunk = list("ab.cdef.gh")  # sentence ends after positions 2 and 7; middle at 5
    pairs = [
        albert.SentencePair(chunk[:5], chunk[5:], 0, 0),  # in order, cut inside a sentence
        albert.SentencePair(chunk[5:], chunk[:5], 1, 1),  # the same chunk, swapped
        albert.SentencePair(list("abc"), list("def"), 0, 2),  # no sentence end inside
    ]
    aligned = albert.sentence_aligned(pairs, {"."})
    assert len(aligned) == 2  # the chunk without a sentence end is dropped
    in_order, swapped = aligned
    # the cut after position 2 (3 tokens, 2 from the middle) beats the one after 7 (3 away)
    assert in_order == albert.SentencePair(list("ab."), list("cdef.gh"), 0, 0)
    assert swapped == albert.SentencePair(list("cdef.gh"), list("ab."), 1, 1)
    later = albert.sentence_aligned(
        [albert.SentencePair(list("abcd."), list("ef.gh"), 0, 0)], {"."}
    )
    assert later[0].first == list("abcd.") and later[0].second == list("ef.gh")


def _check_boundary(results: dict, budget: str) -> None:
    assert results["budget"] == budget and results["git_commit"]
    assert set(results["scores"]) == set(SPLITS)
    for row in results["scores"].values():
        assert 0 <= row["accuracy"] <= 1 and row["pairs"] > 0
    assert (
        results["scores"]["sop, split at a sentence end"]["pairs"]
        <= results["scores"]["sop"]["pairs"]
    )


def test_boundary_command_runs_at_ci(tmp_path: Path, shared_data_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("COURSE_DATA_DIR", str(shared_data_dir))
    out = tmp_path / "boundary.json"
    assert albert.main(["boundary", "--budget", "ci", "--out", str(out)]) == 0
    _check_boundary(json.loads(out.read_text(encoding="utf-8")), "ci")


def test_committed_boundary_check_and_its_prose(committed: dict) -> None:
    results = albert.load_boundary(str(BOUNDARY), verbose=False)
    _check_boundary(results, "cpu")
    assert results["command"] == (
        "python -m course_utils.albert boundary --budget cpu --out results/albert_boundary.json"
    )
    scores = results["scores"]
    # the retrained NSP model is the experiment's: the same SOP and NSP scores
    nsp_run = committed["runs"]["albert-nsp"]["final"]
    assert scores["sop"]["accuracy"] == pytest.approx(nsp_run["sop_accuracy"])
    assert scores["nsp"]["accuracy"] == pytest.approx(nsp_run["nsp_accuracy"])
    aligned = scores["sop, split at a sentence end"]
    text = _prose()
    quotes = [
        f"{_pct(aligned['accuracy'])} on the {aligned['pairs']:,} pairs",
        f"against {_pct(scores['sop']['accuracy'])} when they are cut mid-sentence",
        f"sentence end it scores {_pct(aligned['accuracy'])}, chance",
    ]
    for quote in quotes:
        assert quote in text, f"05_albert.ipynb should say {quote!r} ({BOUNDARY.name})"
    assert abs(aligned["accuracy"] - 0.5) < 0.03  # "chance"
