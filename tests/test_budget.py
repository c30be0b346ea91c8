import json
from pathlib import Path

import pytest
import torch

from course_utils import mlm
from course_utils.budget import (
    BUDGETS,
    SMOKE_STEPS,
    THROUGHPUT,
    Budget,
    format_seconds,
    get_budget,
    smoke_test,
)
from course_utils.checkpoints import PACKAGE_CHECKPOINTS
from course_utils.errors import CourseError
from course_utils.mlm import SIZES, ModelSize, TrainConfig, forward_flops_per_token, train_flops


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("COURSE_BUDGET", raising=False)
    monkeypatch.delenv("COURSE_SMOKE", raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_names():
    assert BUDGETS == ("ci", "cpu", "gpu")


def test_pick_and_str():
    values = dict(ci=10, cpu=200, gpu=5000)
    assert [Budget(name).pick(**values) for name in BUDGETS] == [10, 200, 5000]
    assert str(Budget("cpu")) == "budget=cpu"


def test_pick_requires_all_three_by_keyword():
    with pytest.raises(TypeError):
        Budget("ci").pick(1, 2, 3)
    with pytest.raises(TypeError):
        Budget("ci").pick(ci=1, cpu=2)


def test_explicit_name_wins(monkeypatch):
    monkeypatch.setenv("COURSE_BUDGET", "gpu")
    monkeypatch.setenv("CI", "true")
    assert get_budget("cpu") == Budget("cpu")


def test_env_beats_ci(monkeypatch):
    monkeypatch.setenv("COURSE_BUDGET", "gpu")
    monkeypatch.setenv("CI", "true")
    assert get_budget().name == "gpu"


@pytest.mark.parametrize(
    ("ci", "expected"), [("true", "ci"), ("1", "ci"), ("false", "cpu"), ("0", "cpu"), ("", "cpu")]
)
def test_ci_variable(monkeypatch, ci, expected):
    monkeypatch.setenv("CI", ci)
    assert get_budget().name == expected


def test_gpu_when_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_budget().name == "gpu"


def test_cpu_default():
    assert get_budget().name == "cpu"


def test_unknown_name_lists_valid_ones():
    with pytest.raises(CourseError) as info:
        get_budget("huge")
    assert "'huge'" in str(info.value) and "ci, cpu, gpu" in info.value.fix


def test_unknown_env_names_the_variable(monkeypatch):
    monkeypatch.setenv("COURSE_BUDGET", "fast")
    with pytest.raises(CourseError, match="COURSE_BUDGET='fast'"):
        get_budget()


def test_budget_is_frozen():
    with pytest.raises(AttributeError):
        Budget("ci").name = "gpu"


# ---------------------------------------------------------------- time estimates and smoke runs

ROOT = Path(__file__).resolve().parents[1]
T4_LIMIT = 15 * 60  # each notebook must finish within 15 minutes on a free Colab T4


def _metrics(name: str) -> dict:
    return json.loads((PACKAGE_CHECKPOINTS / name / "metrics.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["course-bert-small", "course-roberta-small"])
def test_cpu_throughput_is_the_measured_one(name):
    m = _metrics(name)
    flops = m["steps"] * train_flops(ModelSize(**m["size"]), m["vocab_size"], m["batch_size"])
    measured = flops / m["train_seconds"]
    config = TrainConfig(steps=m["steps"], batch_size=m["batch_size"])
    estimate = config.expected_seconds(ModelSize(**m["size"]), m["vocab_size"], device="cpu")
    if name == "course-bert-small":  # the figure's basis: the estimate of its build within 10%
        assert THROUGHPUT["cpu"].flops_per_second == pytest.approx(measured, rel=0.1)
        assert estimate == pytest.approx(m["train_seconds"], rel=0.1)
    else:  # built on a less busy shared machine (1.4x faster): the estimate must not undershoot
        assert measured >= 0.9 * THROUGHPUT["cpu"].flops_per_second
        assert estimate >= 0.9 * m["train_seconds"]


def test_flops_are_course_utils_flops_on_a_full_block():
    from transformers import BertForMaskedLM

    from course_utils.flops import train_flops_per_step

    model = BertForMaskedLM(mlm.small_bert_config(1000, "ci"))
    size = SIZES["ci"]
    expected = train_flops_per_step(model, batch_size=3, seq_len=size.block)
    assert train_flops(size, 1000, batch_size=3) == pytest.approx(expected)
    assert forward_flops_per_token(size, 1000) * 3 * 3 * size.block == pytest.approx(expected)


def test_gpu_steps_fit_a_t4_with_room_to_spare():
    """Chapter 2 pretrains and chapter 3 trains 9 runs on `gpu`: each well under 15 minutes."""
    valid_tokens = 2000 * 128  # WikiText-2 validation in 128-token blocks, rounded up
    ch2 = TrainConfig.for_budget("gpu").expected_seconds(
        SIZES["gpu"], 30522, eval_tokens=valid_tokens, device="cuda"
    )
    # chapter 3's gpu settings (notebooks/03_roberta.ipynb): 3 conditions x 3 seeds
    ch3_config = TrainConfig(steps=1500, batch_size=16, warmup_steps=75, eval_every=250)
    ch3 = ch3_config.expected_seconds(
        SIZES["gpu"], 8192, runs=9, eval_tokens=valid_tokens, device="cuda"
    )
    # half the limit: the T4 figure is an assumption, and the other cells need minutes too
    assert ch2 < T4_LIMIT / 2 and ch3 < T4_LIMIT / 2, (ch2, ch3)


def test_announce_prints_the_estimate_and_its_basis(capsys):
    assert Budget("gpu").announce("pretraining", 300, device="cuda") == 300
    out = capsys.readouterr().out
    assert out.startswith("pretraining: expected about 5 min on cuda\n  (gpu budget;")
    assert "T4" in out and "65 TFLOPS" in out
    assert max(len(line) for line in out.splitlines()) <= 88  # the site's width
    Budget("cpu").announce("tokenizing", 42, device="cpu")
    assert "about 40 s on cpu" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("seconds", "text"), [(3, "5 s"), (42, "40 s"), (300, "5 min"), (7200, "2.0 h")]
)
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_smoke_caps_training_and_evaluation(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_SMOKE", "1")
    assert smoke_test()
    calls = []

    def loss_fn(model, batch):
        calls.append(1)
        out = model(batch["x"]).sum()
        return mlm.MLMOutput(loss=out, logits=out[None], labels=out[None])

    model = torch.nn.Linear(2, 1)
    batches = [{"x": torch.ones(1, 2), "input_ids": torch.ones(1, 2)}] * 4
    config = TrainConfig(steps=500, batch_size=1, warmup_steps=100, eval_every=100)
    history = mlm.train_mlm(model, batches, config, device="cpu", progress=False, loss_fn=loss_fn)
    assert history.steps == list(range(1, SMOKE_STEPS + 1)) and len(calls) == SMOKE_STEPS
    assert history.config["steps"] == SMOKE_STEPS and history.config["eval_every"] == 0
    assert "COURSE_SMOKE=1" in capsys.readouterr().out


def _execute(path: Path) -> str:
    """Execute a notebook where it lies; return everything its cells printed."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    return "".join(out.get("text", "") for cell in nb.cells for out in cell.get("outputs", []))


@pytest.mark.parametrize("chapter", ["02_bert", "03_roberta"])
def test_gpu_budget_notebooks_run_on_cpu_as_a_smoke_test(chapter, monkeypatch, shared_data_dir):
    """The `gpu` code path of the training chapters (sizes, extra conditions, retraining) at
    least runs: executed on the CPU with COURSE_SMOKE=1 (3 steps per run, 2 eval batches)."""
    monkeypatch.setenv("COURSE_BUDGET", "gpu")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    monkeypatch.setenv("COURSE_SMOKE", "1")
    monkeypatch.setenv("COURSE_DATA_DIR", str(shared_data_dir))
    printed = _execute(ROOT / "notebooks" / f"{chapter}.ipynb")
    assert "COURSE_SMOKE=1: training 3 steps only" in printed  # the gpu runs were cut down
    assert "expected about" in printed and "gpu budget" in printed  # the training cell announced
