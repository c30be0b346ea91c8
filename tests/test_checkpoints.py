"""course_utils.checkpoints: build at the ci budget (seconds), save, card, reload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from course_utils.checkpoints import (
    CHECKPOINTS,
    NAMES,
    checkpoint_dir,
    load_course_checkpoint,
    main,
)
from course_utils.errors import CourseError
from course_utils.mlm import init_range

PACKAGED = Path(__file__).resolve().parents[1] / "src" / "course_utils" / "course_checkpoints"


def test_shipped_checkpoints_are_the_built_ones() -> None:
    assert set(CHECKPOINTS) <= set(NAMES.values())
    assert set(NAMES.values()) == set(CHECKPOINTS)  # all four families are built and shipped
    for name in CHECKPOINTS:
        assert (PACKAGED / name / "config.json").is_file()


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


#: the checkpoints the CLI builds in the module fixture
BUILT = ("bert", "roberta", "electra", "albert")


@pytest.fixture(scope="module")
def built(shared_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkpoints built with the CLI at the ci budget (a few seconds each)."""
    root = tmp_path_factory.mktemp("checkpoints")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_DATA_DIR", str(shared_data_dir))
        mp.setenv("COURSE_CACHE_DIR", str(root / "cache"))
        for family in BUILT:
            assert main(["build", family, "--budget", "ci", "--out-dir", str(root)]) == 0
    return root


REAL = {
    "course-bert-small": "bert-base-uncased",
    "course-roberta-small": "roberta-base",
    "course-electra-small": "google/electra-small-discriminator",
    "course-albert-small": "albert-base-v2",
}


@pytest.mark.parametrize("name", [NAMES[f] for f in BUILT])
def test_built_checkpoint_has_card_metrics_and_reloads(
    name: str, built: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    assert name in NAMES.values()
    folder = built / name
    for file in ("config.json", "model.safetensors", "tokenizer.json", "README.md", "metrics.json"):
        assert (folder / file).is_file(), file
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert f"NOT {REAL[name]}: a small model trained by this course" in card
    assert "88% prefix" in card and "--budget ci" in card
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["budget"] == "ci" and metrics["steps"] == 20 and metrics["seed"] == 0
    assert metrics["initializer_range"] == init_range(metrics["size"]["hidden"]) == 0.125
    assert metrics["dropout"] == 0.0
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
    if name == "course-electra-small":  # the discriminator: one "replaced?" logit per token
        assert logits.shape == (1, enc["input_ids"].shape[1])
    else:
        assert logits.shape == (1, enc["input_ids"].shape[1], len(tokenizer))


@pytest.mark.parametrize("name", [NAMES[f] for f in BUILT])
def test_fine_tuning_loads_every_pretrained_encoder_weight(name: str, built: Path) -> None:
    # what downstream.finetune_sst2 loads: only the new head (and BERT's pooler, which the MLM
    # checkpoint has no use for) may start from random weights; every encoder tensor is saved
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification

    folder = built / name
    model, info = AutoModelForSequenceClassification.from_pretrained(
        folder, num_labels=2, output_loading_info=True
    )
    assert not info["mismatched_keys"] and not info["error_msgs"]
    new = [k for k in info["missing_keys"] if not k.startswith("classifier.")]
    assert all(k.split(".")[1] == "pooler" for k in new), new  # BERT's and ALBERT's pooler
    saved = load_file(folder / "model.safetensors")
    state = model.state_dict()
    encoder_keys = [k for k in saved if ".encoder." in k or ".embeddings." in k]
    assert encoder_keys
    for key in encoder_keys:
        assert torch.equal(state[key], saved[key]), key


def test_electra_checkpoint_keeps_its_generator(built: Path) -> None:
    from course_utils.electra import ElectraPretrainingModel

    folder = built / "course-electra-small"
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    for key in ("generator_accuracy", "replaced_fraction", "disc_accuracy", "disc_auc"):
        assert key in metrics["valid"] and key in metrics["untrained"], key
    assert metrics["architecture"] == "ElectraForPreTraining"
    assert metrics["generator"]["hidden"] == 16  # 1/4 of the ci discriminator's 64
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "ROC-AUC" in card and "generator/" in card
    pair = ElectraPretrainingModel.from_pretrained(folder)  # shares the embeddings again
    assert (
        pair.generator.electra.embeddings.word_embeddings.weight.data_ptr()
        == pair.discriminator.electra.embeddings.word_embeddings.weight.data_ptr()
    )


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


def test_albert_checkpoint_factorizes_and_shares(built: Path) -> None:
    from transformers import AlbertConfig

    folder = built / "course-albert-small"
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    config = AlbertConfig.from_pretrained(folder)
    assert config.embedding_size == metrics["embedding_size"] < config.hidden_size  # E < H
    assert config.num_hidden_groups == config.inner_group_num == 1  # one layer, shared by all
    assert metrics["shared_layers"] and metrics["architecture"] == "AlbertForMaskedLM"
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert f"E={config.embedding_size}" in card and "shared by all layers" in card


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_committed_checkpoints_use_the_context(family: str) -> None:
    # the committed cpu checkpoints must have left the unigram plateau: at [MASK] targets (where
    # copying the input cannot help) they beat always guessing the most frequent token 3 times over
    # (course-bert-small with BERT's init 0.02 did not: 8.8% vs 5.5%)
    metrics = json.loads((PACKAGED / NAMES[family] / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["budget"] == "cpu" and metrics["initializer_range"] == 0.088
    mask = metrics["valid_accuracy_by_target_kind"]["mask token"]["accuracy"]
    assert mask > 3 * metrics["unigram_baseline"]["accuracy"], (mask, family)
    assert metrics["valid"]["loss"] < metrics["unigram_baseline"]["loss"] - 1.0
