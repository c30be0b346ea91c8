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


def disable_progress_bars() -> None:
    """Switch off the tqdm bars of transformers, datasets and huggingface_hub.

    Why: an executed notebook keeps a bar's last frame ("Loading weights 0%") in its output, and
    the website would show it frozen. The course's own loops take an explicit ``progress`` flag.
    """
    import datasets
    import huggingface_hub.utils
    import transformers.utils.logging

    transformers.utils.logging.disable_progress_bar()  # also switches huggingface_hub's off
    datasets.disable_progress_bars()
    huggingface_hub.utils.disable_progress_bars()


def start(seed: int = 0, deterministic: bool = False) -> Session:
    """Seed everything, choose the device and budget, show short errors, print one status line.

    Also switches off the libraries' progress bars (see `disable_progress_bars`).
    """
    # Progress bars first: importing transformers pulls in trio, which warns (with a machine path)
    # when it finds a custom IPython exception handler such as the friendly errors' one.
    disable_progress_bars()
    install_friendly_errors()
    seed_everything(seed, deterministic=deterministic)
    session = Session(get_device(), get_budget(), seed)
    where = describe_device(session.device)
    print(f"course_utils {__version__} | {where} | {session.budget} | seed={seed}")
    return session
