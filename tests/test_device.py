import sys

import pytest
import torch

from course_utils import device as dev
from course_utils.errors import CourseError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)


def _machine(monkeypatch, cuda=False, mps=False, bf16=True):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: bf16)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=None: "Tesla T4")
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda index=None: (12 * 2**30, 15 * 2**30))


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu"), (True, False, "cuda")],
)
def test_order_cuda_mps_cpu(monkeypatch, cuda, mps, expected):
    _machine(monkeypatch, cuda=cuda, mps=mps)
    assert dev.get_device() == torch.device(expected)


def test_env_forces_device(monkeypatch):
    _machine(monkeypatch, cuda=True, mps=True)
    monkeypatch.setenv("COURSE_DEVICE", "CPU")
    assert dev.get_device() == torch.device("cpu")


def test_prefer_beats_env(monkeypatch):
    _machine(monkeypatch, cuda=True)
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    assert dev.get_device(prefer="cpu") == torch.device("cpu")


def test_forcing_unavailable_cuda_explains_colab(monkeypatch):
    _machine(monkeypatch, cuda=False)
    monkeypatch.setitem(sys.modules, "google.colab", object())
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(CourseError) as info:
        dev.get_device()
    assert "COURSE_DEVICE=cuda" in str(info.value)
    assert "Runtime > Change runtime type > T4 GPU" in info.value.fix


def test_forcing_unavailable_mps(monkeypatch):
    _machine(monkeypatch, mps=False)
    with pytest.raises(CourseError, match="mps is not available") as info:
        dev.get_device(prefer="mps")
    assert "Apple" in info.value.fix


def test_unknown_device_lists_valid_ones(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "tpu")
    with pytest.raises(CourseError) as info:
        dev.get_device()
    assert "'tpu'" in str(info.value) and "cuda, mps, cpu" in info.value.fix


def test_describe_cuda(monkeypatch):
    _machine(monkeypatch, cuda=True)
    line = dev.describe_device(torch.device("cuda"))
    assert line == "cuda:0 Tesla T4, 15.0 GiB total, 12.0 GiB free"
    assert dev.free_gpu_memory_gib(torch.device("cuda")) == pytest.approx(12.0)


def test_describe_mps_and_cpu(monkeypatch):
    _machine(monkeypatch)
    assert dev.describe_device(torch.device("mps")).startswith("mps: Apple MPS")
    line = dev.describe_device()
    assert line.startswith("cpu: ") and f"torch {torch.__version__}" in line and "cores" in line
    assert "Colab" not in line and "Runtime" not in line
    assert dev.free_gpu_memory_gib("cpu") is None


def test_describe_on_colab_without_gpu_hints_runtime(monkeypatch):
    _machine(monkeypatch, cuda=False)
    monkeypatch.setitem(sys.modules, "google.colab", object())
    assert "Runtime > Change runtime type > T4 GPU" in dev.describe_device()


@pytest.mark.parametrize(
    ("kind", "bf16", "expected"),
    [
        ("cuda", True, torch.bfloat16),
        ("cuda", False, torch.float16),
        ("cpu", True, torch.float32),
    ],
)
def test_autocast_dtype(monkeypatch, kind, bf16, expected):
    _machine(monkeypatch, cuda=True, bf16=bf16)
    assert dev.autocast_dtype(torch.device(kind)) == expected


def test_bf16_check_excludes_emulation(monkeypatch):
    # a T4 "supports" bf16 only through slow emulation: that must count as no support
    monkeypatch.setattr(
        torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation
    )
    assert dev.autocast_dtype("cuda") == torch.float16


def test_autocast_is_noop_on_cpu():
    with dev.autocast("cpu"):
        y = torch.ones(2, 2) @ torch.ones(2, 2)
    assert y.dtype == torch.float32


def test_autocast_uses_dtype(monkeypatch):
    _machine(monkeypatch, cuda=True, bf16=True)
    ctx = dev.autocast("cuda")
    assert isinstance(ctx, torch.autocast)
    assert ctx.fast_dtype == torch.bfloat16


@pytest.mark.parametrize(("sonoma", "expected"), [(True, torch.bfloat16), (False, torch.float32)])
def test_mps_never_trains_in_float16(monkeypatch, sonoma, expected):
    # float16 without a GradScaler lets small gradients underflow: MPS gets bf16 or float32
    _machine(monkeypatch, mps=True)
    monkeypatch.setattr(torch.backends.mps, "is_macos_or_newer", lambda major, minor: sonoma)
    device = dev.get_device()
    assert device == torch.device("mps")
    assert dev.autocast_dtype(device) == expected
    assert not dev.needs_grad_scaler(device)
    ctx = dev.autocast(device)
    if expected == torch.float32:
        assert not isinstance(ctx, torch.autocast)  # no autocast at all
    else:
        assert isinstance(ctx, torch.autocast) and ctx.fast_dtype == torch.bfloat16


def test_mps_bf16_check_failing_means_float32(monkeypatch):
    def broken(major, minor):
        raise RuntimeError("MPS not built")

    monkeypatch.setattr(torch.backends.mps, "is_macos_or_newer", broken)
    assert dev.autocast_dtype("mps") == torch.float32


@pytest.mark.parametrize(("bf16", "scaled"), [(False, True), (True, False)])
def test_grad_scaler_exactly_where_float16(monkeypatch, bf16, scaled):
    _machine(monkeypatch, cuda=True, bf16=bf16)
    assert dev.needs_grad_scaler("cuda") is scaled
    assert dev.needs_grad_scaler("cpu") is False
