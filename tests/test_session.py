import random

import torch

import course_utils


def test_start_seeds_and_reports(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_BUDGET", "ci")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    session = course_utils.start(seed=7)
    first = (random.random(), torch.rand(1).item())
    course_utils.start(seed=7)
    assert (random.random(), torch.rand(1).item()) == first
    assert session.device.type == "cpu" and session.budget.name == "ci" and session.seed == 7
    line = capsys.readouterr().out.splitlines()[0]
    assert "budget=ci" in line and "seed=7" in line and "cpu" in line


def test_start_switches_library_progress_bars_off(monkeypatch, capsys):
    import datasets
    import huggingface_hub.utils
    import transformers.utils.logging as hf_logging

    monkeypatch.setenv("COURSE_BUDGET", "ci")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    hf_logging.enable_progress_bar()
    datasets.enable_progress_bars()
    huggingface_hub.utils.enable_progress_bars()
    try:
        # transformers' "Loading weights" bar is this tqdm; it draws to stderr while enabled
        list(hf_logging.tqdm(range(3), desc="Loading weights"))
        assert "Loading weights" in capsys.readouterr().err
        course_utils.start(seed=0)
        assert not hf_logging.is_progress_bar_enabled()
        assert not datasets.is_progress_bar_enabled()
        assert huggingface_hub.utils.are_progress_bars_disabled()
        list(hf_logging.tqdm(range(3), desc="Loading weights"))
        list(huggingface_hub.utils.tqdm(range(3), desc="Downloading"))
        assert capsys.readouterr().err == ""
    finally:
        hf_logging.enable_progress_bar()
        datasets.enable_progress_bars()
        huggingface_hub.utils.enable_progress_bars()
