"""The first code cell of every chapter: seed, pick device and budget, and say so."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from course_utils import __version__
from course_utils.budget import Budget, get_budget
from course_utils.device import describe_device, get_device
from course_utils.errors import install_friendly_errors
from course_utils.seed import seed_everything


@dataclass(frozen=True)
class Session:
    """What a notebook needs to know about where it runs."""

    device: torch.device
    budget: Budget
    seed: int


def start(seed: int = 0, deterministic: bool = False) -> Session:
    """Seed everything, choose the device and budget, show short errors, print one status line."""
    install_friendly_errors()
    seed_everything(seed, deterministic=deterministic)
    session = Session(get_device(), get_budget(), seed)
    where = describe_device(session.device)
    print(f"course_utils {__version__} | {where} | {session.budget} | seed={seed}")
    return session
