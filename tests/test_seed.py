import os
import random

import numpy as np
import pytest
import torch

from course_utils.seed import seed_everything


@pytest.fixture(autouse=True)
def _restore_determinism(monkeypatch):
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    yield
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.deterministic = False


def _draw():
    return random.random(), np.random.rand(), torch.rand(3).tolist()


def test_same_seed_same_numbers():
    seed_everything(123)
    first = _draw()
    seed_everything(123)
    assert _draw() == first


def test_different_seed_different_numbers():
    seed_everything(1)
    first = _draw()
    seed_everything(2)
    second = _draw()
    assert all(a != b for a, b in zip(first, second, strict=True))


def test_sets_pythonhashseed():
    seed_everything(7)
    assert os.environ["PYTHONHASHSEED"] == "7"


def test_deterministic_on_and_off_again():
    seed_everything(0, deterministic=True)
    assert torch.are_deterministic_algorithms_enabled()
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert torch.backends.cudnn.deterministic
    seed_everything(0)
    assert not torch.are_deterministic_algorithms_enabled()
    assert not torch.backends.cudnn.deterministic
