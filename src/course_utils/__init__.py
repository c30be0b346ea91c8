"""Shared helpers for the Transformer-encoders course: device, seeds, budgets, Hub, data, doctor.

Notebooks usually need only `session = course_utils.start()`; the modules hold the rest:
`device`, `seed`, `budget`, `hub`, `data`, `doctor`, `plots`, `colab`, `exercises`, `grading`.
"""

__version__ = "0.1.0"

from course_utils.budget import Budget, get_budget  # noqa: E402
from course_utils.device import describe_device, get_device  # noqa: E402
from course_utils.errors import CourseError  # noqa: E402
from course_utils.seed import seed_everything  # noqa: E402
from course_utils.session import Session, start  # noqa: E402

__all__ = [
    "Budget",
    "CourseError",
    "Session",
    "describe_device",
    "get_budget",
    "get_device",
    "seed_everything",
    "start",
]
