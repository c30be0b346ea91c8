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
