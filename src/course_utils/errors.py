"""One exception for problems a learner can fix, shown in notebooks without a traceback wall."""

from __future__ import annotations

import sys
from typing import Any


class CourseError(RuntimeError):
    """A problem with the learner's setup or input, with a suggested fix."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(message if fix is None else f"{message}\nFix: {fix}")


def _show_course_error(
    shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: int | None = None
) -> list[str]:
    """IPython custom-exception handler: one block with the message and the fix."""
    stb = [f"{etype.__name__}: {value}"]
    # ipykernel overrides _showtraceback to send an "error" message, so the cell still counts
    # as failed (nbval, papermill) while the learner sees only this block.
    shell._showtraceback(etype, value, stb)
    return stb


def install_friendly_errors() -> None:
    """Under IPython, show CourseError as a short message, not a traceback; elsewhere do nothing."""
    if "IPython" not in sys.modules:  # never imported means we are not running under IPython
        return
    shell = sys.modules["IPython"].get_ipython()
    if shell is None:
        return
    # set_custom_exc replaces any previous registration, so calling this twice is harmless
    shell.set_custom_exc((CourseError,), _show_course_error)
