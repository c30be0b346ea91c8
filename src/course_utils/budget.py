"""One switch for scale: the `ci`, `cpu` and `gpu` budgets that notebooks read sizes from.

- `ci`: seconds per notebook, to exercise the code (tests, CI).
- `cpu`: each notebook under 15 minutes on a 2-core laptop CPU (chapters load committed
  checkpoints rather than pretrain).
- `gpu`: chosen on a CUDA machine, e.g. a free Colab T4. Each notebook must finish within 15
  minutes there, so its step counts are sized from the throughput assumed in `THROUGHPUT`: a T4
  peaks at 65 TFLOPS in float16 (NVIDIA's T4 datasheet); encoders as small as the course's
  (H = 256) keep its tensor cores busy only part of the time, so we assume 25% of the peak
  (about 16 TFLOPS) plus 15 ms of kernel-launch and Python overhead per optimizer step.

Long cells print their expected time first (`Budget.announce`). Two environment variables:
COURSE_BUDGET picks the budget; COURSE_SMOKE=1 turns any budget into a smoke test (every training
run stops after `SMOKE_STEPS` steps, every evaluation reads `SMOKE_EVAL_BATCHES` batches), which
is how CI runs the `gpu` code path on a CPU; its numbers mean nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypeVar

import torch

from course_utils.errors import CourseError

BUDGETS = ("ci", "cpu", "gpu")
T = TypeVar("T")
SMOKE_STEPS = 3  # optimizer steps per training run under COURSE_SMOKE=1
SMOKE_EVAL_BATCHES = 2  # evaluation batches read under COURSE_SMOKE=1


@dataclass(frozen=True)
class Throughput:
    """Sustained training speed of a device kind, behind every printed time estimate."""

    flops_per_second: float  # model FLOPs (forward + backward) actually sustained
    seconds_per_step: float  # fixed cost of an optimizer step: kernel launches, Python
    basis: str  # where the figure comes from


#: Assumed (cuda) or measured (cpu) throughput per device kind; `mlm.train_flops` counts FLOPs.
THROUGHPUT: dict[str, Throughput] = {
    # Stated, not measured: 25% of a T4's 65 TFLOPS float16 peak, +15 ms per step. Faster
    # GPUs finish sooner; the estimate is what a learner on a free Colab T4 waits.
    "cuda": Throughput(
        0.25 * 65e12, 0.015, "assumes a Colab T4: 25% of 65 TFLOPS fp16, 15 ms/step"
    ),
    # Measured: the course-bert-small build, 4,000 steps of 32 x 128 tokens = 4.4e13 training
    # FLOPs (course_utils.flops) in 1,560 s on 2 CPU cores, its evaluations included
    # (tests/test_budget.py checks it against both checkpoints' metrics.json).
    "cpu": Throughput(5.4e10, 0.0, "2 CPU cores, measured by the course-bert-small build"),
    "mps": Throughput(5.4e10, 0.0, "no MPS measurement: the 2-core CPU figure, an upper bound"),
}


def smoke_test() -> bool:
    """True when env COURSE_SMOKE asks for a smoke test (see the module docstring)."""
    return _truthy(os.environ.get("COURSE_SMOKE"))


def expected_seconds(flops: float, steps: int, device: torch.device | str | None = None) -> float:
    """Seconds that `steps` optimizer steps doing `flops` FLOPs in all take on `device`."""
    from course_utils.device import get_device

    kind = torch.device(device).type if device is not None else get_device().type
    t = THROUGHPUT.get(kind, THROUGHPUT["cpu"])
    return flops / t.flops_per_second + steps * t.seconds_per_step


def format_seconds(seconds: float) -> str:
    """'40 s', '7 min' or '1.5 h': a rough duration, rounded as an estimate deserves."""
    if seconds < 90:
        return f"{max(5, round(seconds / 5) * 5):.0f} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60):.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class Budget:
    """How much compute a run may use: "ci" (seconds), "cpu" (minutes) or "gpu" (real models)."""

    name: str

    def __post_init__(self) -> None:
        if self.name not in BUDGETS:
            raise CourseError(
                f"Unknown budget {self.name!r}.", fix=f"use one of {', '.join(BUDGETS)}"
            )

    def pick(self, *, ci: T, cpu: T, gpu: T) -> T:
        """The value for this budget, e.g. `steps = budget.pick(ci=20, cpu=500, gpu=5000)`."""
        return {"ci": ci, "cpu": cpu, "gpu": gpu}[self.name]

    def announce(
        self, what: str, seconds: float, device: torch.device | str | None = None
    ) -> float:
        """Print the expected duration of the long cell about to run; return `seconds`.

        `seconds` comes from an estimate such as `TrainConfig.expected_seconds`; the line says
        which throughput assumption it rests on, so a learner knows how far to trust it.
        """
        from course_utils.device import get_device

        kind = torch.device(device).type if device is not None else get_device().type
        basis = THROUGHPUT.get(kind, THROUGHPUT["cpu"]).basis
        lines = [f"{what}: expected about {format_seconds(seconds)} on {kind}"]
        lines.append(f"  ({self.name} budget; {basis})")  # short lines: the site prints them
        if smoke_test():
            lines.append(f"  COURSE_SMOKE=1: {SMOKE_STEPS} steps per run")
        print("\n".join(lines), flush=True)
        return seconds

    def __str__(self) -> str:
        return f"budget={self.name}"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


def get_budget(name: str | None = None) -> Budget:
    """`name`, else env COURSE_BUDGET, else "ci" if env CI is set, else "gpu" or "cpu"."""
    if name is not None:
        return Budget(name.strip().lower())
    if os.environ.get("COURSE_BUDGET"):
        env = os.environ["COURSE_BUDGET"].strip().lower()
        if env not in BUDGETS:
            raise CourseError(
                f"Unknown budget COURSE_BUDGET={env!r}.",
                fix=f"set COURSE_BUDGET to one of {', '.join(BUDGETS)}",
            )
        return Budget(env)
    if _truthy(os.environ.get("CI")):  # GitHub Actions, GitLab CI etc. set CI=true
        return Budget("ci")
    return Budget("gpu" if torch.cuda.is_available() else "cpu")
