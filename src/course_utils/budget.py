"""One switch for scale: the `ci`, `cpu` and `gpu` budgets that notebooks read sizes from."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypeVar

import torch

from course_utils.errors import CourseError

BUDGETS = ("ci", "cpu", "gpu")
T = TypeVar("T")


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
