"""course_utils.checkpoints: build at the ci budget (seconds), save, card, reload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from course_utils.checkpoints import (
    CHECKPOINTS,
    checkpoint_dir,
    load_course_checkpoint,
    main,
)
from course_utils.errors import CourseError


def test_checkpoint_dir_default_and_override(
    repo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COURSE_CHECKPOINT_DIR", raising=False)
    packaged = repo_root / "src" / "course_utils" / "course_checkpoints" / "course-bert-small"
    assert checkpoint_dir("course-bert-small") == packaged  # package data, also on Colab
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    assert checkpoint_dir("course-roberta-small") == tmp_path / "course-roberta-small"
    with pytest.raises(ValueError, match="Unknown checkpoint"):
        checkpoint_dir("bert-base-uncased")


def test_missing_checkpoint_says_how_to_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    with pytest.raises(CourseError, match="checkpoints build bert"):
        load_course_checkpoint("course-bert-small")


@pytest.fixture(scope="module")
def built(shared_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both checkpoints built with the CLI at the ci budget (a few seconds each)."""
    root = tmp_path_factory.mktemp("checkpoints")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_DATA_DIR", str(shared_data_dir))
        mp.setenv("COURSE_CACHE_DIR", str(root / "cache"))
        assert main(["build", "all", "--budget", "ci", "--out-dir", str(root)]) == 0
    return root


@pytest.mark.parametrize(
    ("name", "real"),
    [("course-bert-small", "bert-base-uncased"), ("course-roberta-small", "roberta-base")],
)
def test_built_checkpoint_has_card_metrics_and_reloads(
    name: str, real: str, built: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    assert name in CHECKPOINTS
    folder = built / name
    for file in ("config.json", "model.safetensors", "tokenizer.json", "README.md", "metrics.json"):
        assert (folder / file).is_file(), file
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert f"NOT {real}: a small model trained by this course" in card
    assert "88% prefix" in card and "--budget ci" in card
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["budget"] == "ci" and metrics["steps"] == 20 and metrics["seed"] == 0
    valid = metrics["valid"]
    assert valid["loss"] < metrics["untrained"]["loss"]  # 20 steps already beat the random init
    assert valid["n_targets"] == metrics["untrained"]["n_targets"]  # same fixed masks

    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(built))
    model, tokenizer = load_course_checkpoint(name)
    out = capsys.readouterr().out
    assert "NOT a real Hub checkpoint" in out and str(built) not in out  # no machine path
    assert max(len(line) for line in out.splitlines()) <= 88  # the site's width
    text = f"the {tokenizer.mask_token} of the"
    enc = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits
    assert logits.shape == (1, enc["input_ids"].shape[1], len(tokenizer))


def test_the_documented_command_reproduces_a_checkpoint(
    built: Path, shared_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # RoBERTa: byte-level BPE training is deterministic, so a rebuild must match bit for bit
    # (WordPiece can differ on rare runs: its trainer breaks ties in hash order; see the card)
    from safetensors.torch import load_file

    monkeypatch.setenv("COURSE_DATA_DIR", str(shared_data_dir))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["build", "roberta", "--budget", "ci", "--out-dir", str(tmp_path)]) == 0
    first = load_file(built / "course-roberta-small" / "model.safetensors")
    again = load_file(tmp_path / "course-roberta-small" / "model.safetensors")
    assert first.keys() == again.keys()
    for name, tensor in first.items():
        assert torch.equal(tensor, again[name]), name
    metrics = [
        json.loads((root / "course-roberta-small" / "metrics.json").read_text(encoding="utf-8"))
        for root in (built, tmp_path)
    ]
    assert metrics[0]["valid"]["loss"] == metrics[1]["valid"]["loss"]
