"""course_utils.experiments: the static-vs-dynamic masking experiment on a toy corpus."""

from __future__ import annotations

import random

import pytest
import torch
from transformers import RobertaForMaskedLM

from course_utils.experiments import masking_loader, run_masking_experiment, summarize
from course_utils.mlm import TrainConfig, make_eval_batches, small_roberta_config
from course_utils.packing import pack_blocks, tokenize_lines
from course_utils.tokenization import train_byte_level_bpe

WORDS = "the a cat dog sat ran on under mat tree big small red blue quickly slowly".split()


@pytest.fixture(scope="module")
def setup() -> dict:
    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 20))) for _ in range(300)]
    tokenizer = train_byte_level_bpe(texts, 300)
    ids = tokenize_lines(tokenizer, texts)
    blocks = pack_blocks(
        ids, 16, tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id, True
    )
    train = {k: v[:12] for k, v in blocks.items()}
    valid = {k: v[12:24] for k, v in blocks.items()}
    return {"tokenizer": tokenizer, "train": train, "eval": make_eval_batches(valid, tokenizer, 8)}


def _model_factory(tokenizer):
    return lambda: RobertaForMaskedLM(
        small_roberta_config(len(tokenizer), "ci", max_position_embeddings=18)
    )


def _labels(loader) -> list[torch.Tensor]:
    return [batch["labels"] for batch in loader]


def test_static_loader_repeats_masks_and_dynamic_does_not(setup):
    tok, train = setup["tokenizer"], setup["train"]
    static = masking_loader(train, tok, batch_size=12, seed=0, copies=1)
    first, second = _labels(static)[0], _labels(static)[0]
    # same blocks (one batch holds all 12, in a new order): compare sorted by content
    assert sorted(map(tuple, first.tolist())) == sorted(map(tuple, second.tolist()))
    dynamic = masking_loader(train, tok, batch_size=12, seed=0, copies=None)
    a, b = _labels(dynamic)[0], _labels(dynamic)[0]
    assert sorted(map(tuple, a.tolist())) != sorted(map(tuple, b.tolist()))
    assert len(masking_loader(train, tok, batch_size=4, seed=0, copies=3)) == 9  # 36 items
    with pytest.raises(ValueError):
        masking_loader(train, tok, batch_size=4, seed=0, copies=0)


def test_run_masking_experiment_tables(setup):
    tok = setup["tokenizer"]
    config = TrainConfig(steps=4, batch_size=4, lr=1e-3, eval_every=2)
    results = run_masking_experiment(
        _model_factory(tok),
        setup["train"],
        tok,
        setup["eval"],
        config,
        seeds=[0, 1],
        conditions={"static": 1, "dynamic": None},
        log=None,
    )
    final, curves = results.final, results.curves
    assert list(final["condition"]) == ["static", "static", "dynamic", "dynamic"]
    assert final["loss"].notna().all() and final["accuracy"].between(0, 1).all()
    assert sorted(curves["step"].unique()) == [2, 4]
    assert curves["epochs"].max() == pytest.approx(4 * 4 / 12)
    summary = results.summary()
    assert list(summary.index) == ["static", "dynamic"]
    assert (summary["seeds"] == 2).all()
    assert {"loss mean", "loss std", "accuracy mean", "accuracy std"} <= set(summary.columns)
    assert summary.equals(summarize(final))


def test_same_seed_same_initial_weights_and_reproducible(setup):
    tok = setup["tokenizer"]
    config = TrainConfig(steps=2, batch_size=4, lr=1e-3)
    kwargs = dict(seeds=[0], conditions={"dynamic": None}, log=None)
    one = run_masking_experiment(
        _model_factory(tok), setup["train"], tok, setup["eval"], config, **kwargs
    )
    two = run_masking_experiment(
        _model_factory(tok), setup["train"], tok, setup["eval"], config, **kwargs
    )
    assert one.final["loss"].tolist() == pytest.approx(two.final["loss"].tolist())


def test_rejects_empty_inputs(setup):
    tok = setup["tokenizer"]
    config = TrainConfig(steps=1, batch_size=4)
    with pytest.raises(ValueError):
        run_masking_experiment(
            _model_factory(tok), setup["train"], tok, setup["eval"], config, conditions={}
        )
    with pytest.raises(ValueError):
        run_masking_experiment(
            _model_factory(tok), setup["train"], tok, setup["eval"], config, seeds=[]
        )
