"""Pick the accelerator (cuda, then mps, then cpu) and the matching mixed-precision dtype."""

from __future__ import annotations

import contextlib
import os
import sys
from contextlib import AbstractContextManager

import torch

from course_utils.errors import CourseError

DEVICES = ("cuda", "mps", "cpu")
_COLAB_GPU_FIX = "on Colab: Runtime > Change runtime type > T4 GPU, then run the notebook again"


def _on_colab() -> bool:
    return "google.colab" in sys.modules


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return torch.backends.mps.is_available()
    return True


def _unavailable_fix(kind: str) -> str:
    if kind == "mps":
        return "MPS needs an Apple-silicon Mac and a torch build with MPS; or unset COURSE_DEVICE"
    where = _COLAB_GPU_FIX if _on_colab() else "use a machine with an NVIDIA GPU and CUDA torch"
    return f"{where}; or unset COURSE_DEVICE to run on what is there"


def get_device(prefer: str | None = None) -> torch.device:
    """cuda if available, else mps, else cpu; `prefer` (else env COURSE_DEVICE) forces one."""
    forced = (prefer or os.environ.get("COURSE_DEVICE") or "").strip().lower()
    source = "prefer=" if prefer else "COURSE_DEVICE="
    if not forced:
        return torch.device(next(kind for kind in DEVICES if _available(kind)))
    if forced not in DEVICES:
        raise CourseError(
            f"Unknown device {source}{forced!r}.",
            fix=f"use one of {', '.join(DEVICES)} (or leave it unset)",
        )
    if not _available(forced):
        raise CourseError(
            f"{source}{forced} was asked for, but {forced} is not available.",
            fix=_unavailable_fix(forced),
        )
    return torch.device(forced)


def free_gpu_memory_gib(device: torch.device | str | None = None) -> float | None:
    """Free memory of a CUDA device in GiB; None for cpu and mps."""
    device = torch.device(device) if device is not None else get_device()
    if device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    return free / 2**30


def describe_device(device: torch.device | str | None = None) -> str:
    """One readable line about the device, with a hint on Colab when no GPU is attached."""
    device = torch.device(device) if device is not None else get_device()
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        free, total = (n / 2**30 for n in torch.cuda.mem_get_info(index))
        name = torch.cuda.get_device_name(index)
        line = f"cuda:{index} {name}, {total:.1f} GiB total, {free:.1f} GiB free"
    elif device.type == "mps":
        line = f"mps: Apple MPS (torch {torch.__version__})"
    else:
        line = f"{device.type}: {os.cpu_count()} cores, torch {torch.__version__}"
    if _on_colab() and not torch.cuda.is_available():
        line += f" (no GPU attached: {_COLAB_GPU_FIX})"
    return line


def _mps_bf16() -> bool:
    """Whether MPS runs bfloat16: macOS 14 (Sonoma) or newer; False where torch cannot tell."""
    check = getattr(torch.backends.mps, "is_macos_or_newer", None)
    try:
        return bool(check(14, 0)) if check is not None else False
    except Exception:  # off macOS, or a torch build without MPS: no bf16 on MPS
        return False


def autocast_dtype(device: torch.device | str) -> torch.dtype:
    """The mixed-precision dtype of a device; float32 means no autocast.

    cuda: bfloat16 where the GPU has it natively, else float16 (T4), which `train_mlm` pairs
    with a GradScaler. mps: bfloat16 on macOS 14+, else float32. MPS gets no float16 because
    training in float16 needs loss scaling against underflowing gradients, and bfloat16 (float32's
    exponent range) does not; older macOS trains in float32, slower but correct. cpu: float32.
    """
    device = torch.device(device)
    if device.type == "cuda":
        # A T4 "supports" bf16 only through slow emulation: fp16 is the right choice there
        native_bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
        return torch.bfloat16 if native_bf16 else torch.float16
    if device.type == "mps":
        return torch.bfloat16 if _mps_bf16() else torch.float32
    return torch.float32


def needs_grad_scaler(device: torch.device | str) -> bool:
    """True where training autocasts to float16, whose small gradients underflow unscaled."""
    return autocast_dtype(device) == torch.float16


def autocast(device: torch.device | str) -> AbstractContextManager:
    """torch.autocast with autocast_dtype(device); a no-op where that dtype is float32."""
    device = torch.device(device)
    dtype = autocast_dtype(device)
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
