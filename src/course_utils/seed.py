"""Seed every random number generator the course uses."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int = 0, deterministic: bool = False) -> None:
    """Seed python, numpy and torch (cpu + cuda); deterministic=True bans nondeterministic ops."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds the cpu and every cuda generator
    torch.cuda.manual_seed_all(seed)  # explicit for readers; lazy, so safe without a GPU
    # Only reaches child processes (e.g. spawned DataLoader workers): ours has its hash seed already
    os.environ["PYTHONHASHSEED"] = str(seed)
    if deterministic:
        # cuBLAS is deterministic only with a fixed workspace (torch raises at a matmul without)
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
        # autotuning picks kernels by timing, which varies from run to run
        torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(deterministic)
    torch.backends.cudnn.deterministic = deterministic
