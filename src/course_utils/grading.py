"""Helpers that graded-exercise tests use to turn bad submissions into plain-word failures.

Otter runs each test case function and reports any exception it raises as a failure. These helpers
make sure that a submission that was deleted, raises, never returns, edits its inputs or returns
the wrong thing fails *its own* test cases with a message a learner can act on, instead of
crashing the grading run or producing a cryptic traceback.

Every failure is a :class:`GradingFailure` (an ``AssertionError``), except that a
``NotImplementedError`` from an unfinished stub is passed through unchanged: it is the honest
message for "not attempted yet".
"""

from __future__ import annotations

import inspect
import signal
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

#: Seconds one call of a learner's function may take before it counts as an endless loop.
DEFAULT_SECONDS = 10.0

# Functions that already ran out of time (id -> (function, limit)): later test cases fail at once,
# so a looping answer costs one time limit per question rather than one per test case. The
# function is kept so that its id cannot be reused by another object.
_TIMED_OUT: dict[int, tuple[Callable[..., Any], float]] = {}


class GradingFailure(AssertionError):
    """A test failure whose message is meant for the learner."""


class AnswerFailure(GradingFailure):
    """A failure of the learner's function itself: missing, raised, too slow, changed its inputs
    or returned something unreadable. Its message may be shown even for hidden tests."""


class RemoteAnswer:
    """Base of learner functions that run elsewhere (the grading sandbox, see
    ``course_utils.sandbox``): ``call_answer`` hands the call to ``remote_call``, which enforces
    the time limit from outside and checks the inputs itself."""

    __name__ = "answer"

    def remote_call(self, args: tuple, kwargs: dict[str, Any], seconds: float | None) -> Any:
        raise NotImplementedError


def in_place_message(function: str, argument: str) -> str:
    """The failure message for a learner's function that changed an input in place."""
    return (
        f"`{function}` changed its input `{argument}` in place (for example with `+=`, "
        "`/=`, `.masked_fill_()` or `.transpose_()`). Build new tensors and leave the "
        "inputs as they were."
    )


class _TimeLimitReached(BaseException):
    # A BaseException, so that a learner's `except Exception:` inside the loop cannot swallow it.
    pass


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def get_answer(env: Mapping[str, Any], name: str) -> Callable[..., Any]:
    """Return the function `name` from the notebook's globals `env`, or fail in plain words."""
    if name not in env:
        raise AnswerFailure(
            f"`{name}` is not defined. Did you delete or rename the cell that defines it, or not "
            "run it? Restore the cell (its name and arguments must stay as given), run it, and "
            "check again."
        )
    value = env[name]
    if not callable(value):
        raise AnswerFailure(
            f"`{name}` should be a function, but it is a {type(value).__name__}. Did a later cell "
            "assign something else to that name?"
        )
    return value


def call_with_limit(
    fn: Callable[..., Any], *args: Any, seconds: float | None = None, **kwargs: Any
) -> Any:
    """Call `fn(*args, **kwargs)`; fail if it takes longer than `seconds` (default DEFAULT_SECONDS).

    Uses SIGALRM, so the limit only applies on the main thread of a Unix process (which is where
    Jupyter kernels and the grader run learner code). Elsewhere (Windows) it warns and calls `fn`
    without a limit rather than refusing to check the learner's work.
    """
    limit = DEFAULT_SECONDS if seconds is None else seconds
    if id(fn) in _TIMED_OUT:
        earlier = _TIMED_OUT[id(fn)][1]
        raise AnswerFailure(
            f"`{_name(fn)}` did not finish within {earlier:g} s in an earlier test (endless "
            "loop?), so it was not run again."
        )
    if not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread():
        warnings.warn(
            "No time limit on this platform or thread: an endless loop will hang this check.",
            RuntimeWarning,
            stacklevel=2,
        )
        return fn(*args, **kwargs)

    def on_alarm(signum: int, frame: Any) -> None:
        raise _TimeLimitReached

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        return fn(*args, **kwargs)
    except _TimeLimitReached:
        _TIMED_OUT[id(fn)] = (fn, limit)
        raise AnswerFailure(
            f"your function `{_name(fn)}` did not finish within {limit:g} s (endless loop?)"
        ) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _argument_names(fn: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]):
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except (TypeError, ValueError):  # wrong signature: the call itself will report it
        return [(f"argument {i + 1}", a) for i, a in enumerate(args)] + list(kwargs.items())
    return list(bound.arguments.items())


def _unchanged(value: torch.Tensor, before: torch.Tensor) -> bool:
    if value.shape != before.shape or value.dtype != before.dtype:
        return False
    if value.is_floating_point():  # NaN inputs compare equal to themselves here
        return torch.allclose(value, before, rtol=0, atol=0, equal_nan=True)
    return torch.equal(value, before)


def call_answer(
    fn: Callable[..., Any], *args: Any, seconds: float | None = None, **kwargs: Any
) -> Any:
    """Call a learner's function under a time limit and check that it left its inputs unchanged.

    Exceptions other than NotImplementedError become a GradingFailure naming the function. A
    :class:`RemoteAnswer` (the grader's sandbox) does all of this on its side of the call.
    """
    if isinstance(fn, RemoteAnswer):
        return fn.remote_call(args, kwargs, seconds)
    inputs = [
        (name, value, value.detach().clone())
        for name, value in _argument_names(fn, args, kwargs)
        if isinstance(value, torch.Tensor)
    ]
    try:
        result = call_with_limit(fn, *args, seconds=seconds, **kwargs)
    except (GradingFailure, NotImplementedError):
        raise
    except Exception as error:
        raise AnswerFailure(f"`{_name(fn)}` raised {type(error).__name__}: {error}") from error
    for name, value, before in inputs:
        if not _unchanged(value, before):
            raise AnswerFailure(in_place_message(_name(fn), name))
    return result


def unpack(result: Any, *names: str, function: str) -> tuple[Any, ...]:
    """Check that `result` is a tuple with one item per name, e.g. ``(output, weights)``."""
    expected = "(" + ", ".join(names) + ")"
    if not isinstance(result, tuple):
        raise GradingFailure(
            f"`{function}` should return a tuple {expected}, but it returned a "
            f"{type(result).__name__}."
        )
    if len(result) != len(names):
        raise GradingFailure(
            f"`{function}` should return {len(names)} values {expected}, but it returned "
            f"{len(result)}."
        )
    return result


def check_tensor(
    value: Any,
    *,
    shape: Sequence[int] | None = None,
    dtype: torch.dtype | None = None,
    name: str = "the result",
) -> torch.Tensor:
    """Check type, shape, dtype and finiteness of `value`; return it for further checks."""
    if not isinstance(value, torch.Tensor):
        raise GradingFailure(
            f"{name} should be a torch.Tensor, but it is a {type(value).__name__}."
        )
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise GradingFailure(
            f"{name} should have shape {tuple(shape)}, but it has shape {tuple(value.shape)}."
        )
    if dtype is not None and value.dtype != dtype:
        raise GradingFailure(f"{name} should have dtype {dtype}, but it has dtype {value.dtype}.")
    if value.is_floating_point():
        if torch.isnan(value).any():
            raise GradingFailure(
                f"{name} contains NaN (not a number). This often comes from exp() overflowing, "
                "0/0, or a row in which every score is -inf."
            )
        if torch.isinf(value).any():
            raise GradingFailure(f"{name} contains infinite values.")
    return value


def check_close(
    actual: Any,
    expected: torch.Tensor,
    *,
    name: str = "the result",
    atol: float = 1e-5,
    rtol: float = 1e-4,
    hint: str = "",
) -> None:
    """Check that `actual` matches `expected` (shape, dtype, values), naming the worst entry."""
    check_tensor(actual, shape=expected.shape, dtype=expected.dtype, name=name)
    close = torch.isclose(actual, expected, atol=atol, rtol=rtol)
    if bool(close.all()):
        return
    difference = (actual - expected).abs()
    flat = int(torch.argmax(torch.where(close, torch.zeros_like(difference), difference)))
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), expected.shape))
    wrong = int((~close).sum())
    message = (
        f"{name} has the right shape but {wrong} of {close.numel()} values are wrong; the "
        f"largest error is at index {index}: expected {float(expected[index]):.6g}, got "
        f"{float(actual[index]):.6g}."
    )
    raise GradingFailure(f"{message} {hint}".strip())


def check_rate(
    count: int,
    total: int,
    expected: float,
    *,
    name: str,
    sigmas: float = 5.0,
    hint: str = "",
) -> None:
    """Check that `count` hits out of `total` random trials fit the probability `expected`.

    Fails when the observed rate is more than `sigmas` binomial standard deviations,
    sqrt(p (1 - p) / total), away from `expected`: with the default 5, a correct random answer
    fails with probability below 1e-6, while a wrong rate fails reliably on large samples.
    """
    if total <= 0:
        raise GradingFailure(f"{name} could not be measured: there was nothing to count.")
    rate = count / total
    allowed = sigmas * (expected * (1 - expected) / total) ** 0.5
    if abs(rate - expected) > allowed:
        message = (
            f"{name} is {rate:.4f} ({count} of {total}), but it should be close to {expected:g} "
            f"(within {allowed:.4f} for this sample size)."
        )
        raise GradingFailure(f"{message} {hint}".strip())


__all__ = [
    "DEFAULT_SECONDS",
    "AnswerFailure",
    "GradingFailure",
    "RemoteAnswer",
    "call_answer",
    "call_with_limit",
    "check_close",
    "check_rate",
    "check_tensor",
    "get_answer",
    "in_place_message",
    "unpack",
]
