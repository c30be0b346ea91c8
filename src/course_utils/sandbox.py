"""Grading sandboxes: run a learner's notebook in a jail, call its functions from the grader.

The grader never executes learner code itself. Each submission gets a :class:`Sandbox`: a
process started with ``unshare`` (util-linux) in new PID, mount, network, IPC and UTS
namespaces, which builds a minimal read-only root, drops to an unprivileged uid of its own and
runs the notebook's code cells (:mod:`course_utils.sandbox_worker`). The grader then runs the
chapter's tests in its own process against a :class:`RemoteEnv`: every call of a learner's
function is sent to the sandbox as plain data and only the plain-data result comes back
(:mod:`course_utils.sandbox_codec`), so patching torch, the checks or builtins, tensor
subclasses, ``__eq__`` tricks and stack inspection cannot reach a check.

Wall-clock limits are enforced from outside: when a call or the notebook run overruns, the
grader kills the sandbox's process group; the sandbox's PID 1 dies with it and the kernel kills
every process left in its PID namespace (detached ones included). A later call starts a fresh
sandbox and runs the notebook again.

Needs Linux, root (or a container run as root) and ``unshare``; :func:`unavailable_reason`
says why a sandbox cannot be created here.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course_utils import sandbox_codec as codec
from course_utils.grading import DEFAULT_SECONDS, AnswerFailure, RemoteAnswer, in_place_message

#: How to grade where no sandbox can be created (shown by `grade` and in the README).
WAY_OUT = (
    "Grade on a Linux machine as root, or in a Linux container run as root, for example "
    "`docker run --rm -it -v $PWD:/course -w /course python:3.11 bash`, then `make install` and "
    "the same `grade` command there (Docker's default seccomp profile may block namespaces: "
    "add `--privileged` or `--security-opt seccomp=unconfined` to that container)."
)


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox and the grader's time limits (seconds)."""

    call_seconds: float = DEFAULT_SECONDS
    question_seconds: float = 60.0
    notebook_seconds: float = 120.0
    memory_mb: int = 6144  # address space: torch alone reserves about 1 GiB of it
    max_processes: int = 64  # processes and threads of the sandbox's uid
    tmp_mb: int = 256


class SandboxUnavailable(RuntimeError):
    """No sandbox can be created on this machine (message says why and what to do)."""


_UIDS = itertools.count(int(os.environ.get("COURSE_SANDBOX_UID_BASE", "1900000")))
_UID_LOCK = threading.Lock()


def _next_uid() -> int:
    # A uid of its own per sandbox: RLIMIT_NPROC counts processes per uid, and the reaper finds
    # everything a sandbox left behind by its uid.
    with _UID_LOCK:
        return next(_UIDS) + 1000 * (os.getpid() % 500)


def _binds() -> list[str]:
    """Host paths the sandbox sees read-only: system libraries, Python, this package."""
    package_parent = str(Path(__file__).resolve().parents[1])
    paths = ["/usr", "/bin", "/lib", "/lib64", "/sbin", "/etc/ld.so.cache", "/etc/localtime"]
    paths += [sys.prefix, sys.base_prefix, sys.exec_prefix, package_parent]
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        paths.append(sysconfig.get_paths()[key])
    paths += [p for p in sys.path if p.endswith("site-packages")]
    kept: list[str] = []
    for path in sorted({os.path.abspath(p) for p in paths if p and os.path.lexists(p)}, key=len):
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return kept


def _sandbox_env() -> dict[str, str]:
    # A fresh environment: nothing of the grader's (tokens, paths) reaches learner code.
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin:" + os.path.dirname(sys.executable),
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }


_BOOT = (
    "import sys; sys.path.insert(0, {path!r}); "
    "from course_utils.sandbox_worker import main; sys.exit(main())"
)


def _processes_of(uid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="utf-8") as status:
                for line in status:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            found.append(int(entry))
                        break
        except (OSError, ValueError):
            continue
    return found


class Sandbox:
    """One jailed worker process; see the module docstring."""

    def __init__(self, limits: Limits) -> None:
        if shutil.which("unshare") is None:
            raise SandboxUnavailable("the `unshare` command (util-linux) is not installed")
        self.limits = limits
        self.uid = _next_uid()
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        config = {
            "fds": [to_child_r, from_child_w],
            "binds": _binds(),
            "uid": self.uid,
            "memory_mb": limits.memory_mb,
            "max_processes": limits.max_processes,
            "tmp_mb": limits.tmp_mb,
        }
        import json

        command = [
            "unshare",
            "--mount",
            "--net",
            "--ipc",
            "--uts",
            "--pid",
            "--fork",
            "--kill-child",
            "--propagation",
            "private",
            sys.executable,
            "-I",
            "-c",
            _BOOT.format(path=str(Path(__file__).resolve().parents[1])),
            json.dumps(config),
        ]
        self._process = subprocess.Popen(
            command,
            pass_fds=(to_child_r, from_child_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=_sandbox_env(),
            cwd="/",
            start_new_session=True,  # its own process group, killed as a whole
        )
        os.close(to_child_r)
        os.close(from_child_w)
        try:
            header, _ = codec.read_message(self._from_child, time.monotonic() + 30)
        except (codec.Closed, codec.Timeout, codec.ProtocolError) as error:
            stderr = self._stderr_tail()
            self.kill()
            raise SandboxUnavailable(
                f"the sandbox process did not start ({type(error).__name__}): {stderr}"
            ) from error
        if not header.get("ready"):
            self.kill()
            raise SandboxUnavailable(f"the sandbox could not be set up: {header.get('fatal')}")
        self._process.stderr.close()  # the learner may write there; nobody reads it
        self.alive = True

    def _stderr_tail(self) -> str:
        try:
            self._process.kill()
            _, err = self._process.communicate(timeout=5)
        except (subprocess.TimeoutExpired, ValueError, OSError):
            return "no output"
        lines = (err or b"").decode("utf-8", "replace").strip().splitlines()
        return lines[-1] if lines else "no output"

    def request(
        self, header: dict[str, Any], tensors: dict[str, Any], seconds: float
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Send one request and wait at most `seconds` for the reply; kill the sandbox on any
        failure (timeout, crash, protocol violation) and re-raise it."""
        deadline = time.monotonic() + seconds
        try:
            codec.write_all(self._to_child, codec.pack(header, tensors), deadline)
            return codec.read_message(self._from_child, deadline)
        except (codec.Timeout, codec.Closed, codec.ProtocolError, OSError):
            self.kill()
            raise

    def kill(self) -> None:
        """Kill the sandbox and everything it started; return when all of it is gone."""
        self.alive = False
        try:
            os.killpg(self._process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._process.wait()
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        # PID 1 of the namespace is dead, so the kernel kills the rest; wait until it has.
        deadline = time.monotonic() + 10
        while (left := _processes_of(self.uid)) and time.monotonic() < deadline:
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)
        if _processes_of(self.uid):
            raise RuntimeError(f"processes of sandbox uid {self.uid} survived SIGKILL")

    def close(self) -> None:
        if self.alive:
            try:
                codec.write_all(self._to_child, codec.pack({"op": "exit"}), time.monotonic() + 1)
            except (codec.Timeout, codec.Closed, OSError):
                pass
        self.kill()


_PROBE: str | None | bool = False  # False: not probed yet


def unavailable_reason() -> str | None:
    """None when a sandbox can be created here, else why not (probed once per process)."""
    global _PROBE
    if _PROBE is not False:
        return _PROBE  # type: ignore[return-value]
    if not sys.platform.startswith("linux"):
        _PROBE = f"sandboxes need Linux namespaces, and this is {sys.platform}"
    elif os.geteuid() != 0:
        _PROBE = "creating the sandbox's namespaces and jail needs root (uid 0)"
    else:
        try:
            Sandbox(Limits()).close()
            _PROBE = None
        except (SandboxUnavailable, OSError) as error:
            _PROBE = str(error)
    return _PROBE  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------
# The grader's view of a submission


class SubmissionError(RuntimeError):
    """The submission cannot be graded at all (its notebook run hung or crashed)."""


@dataclass
class Session:
    """One submission's sandbox, restarted (notebook re-run) after a kill, and its clocks."""

    cells: list[str]
    limits: Limits
    deadline: float  # time.monotonic() at which the whole submission's time is up
    timeout: float = 600.0  # the whole submission's limit, for messages
    sandbox: Sandbox | None = None
    globals: dict[str, Any] = field(default_factory=dict)
    notebook_errors: list[str] = field(default_factory=list)
    timed_out: dict[str, float] = field(default_factory=dict)
    question_left: float = 0.0
    question_over: bool = False
    starts: int = 0

    def start(self) -> None:
        """(Re)start the sandbox and run the notebook in it."""
        if self.starts >= 8:
            raise AnswerFailure("the grading sandbox was restarted too often; no more calls.")
        self.starts += 1
        self.sandbox = Sandbox(self.limits)
        left = self.deadline - time.monotonic()
        seconds = min(self.limits.notebook_seconds, left)
        try:
            header, _ = self.sandbox.request({"op": "notebook", "cells": self.cells}, {}, seconds)
        except codec.Timeout as error:
            limit = self.timeout if left < self.limits.notebook_seconds else seconds
            raise SubmissionError(
                f"grading did not finish within {limit:g} s (endless loop outside the graded "
                "functions?)"
            ) from error
        except (codec.Closed, codec.ProtocolError, OSError) as error:
            raise SubmissionError(
                "the notebook's code ended the grading process (os._exit, a crash or the "
                f"{self.limits.memory_mb} MiB memory limit)"
            ) from error
        summary = header.get("globals")
        if type(summary) is not dict:
            raise SubmissionError("the notebook run sent back no result")
        self.globals = {
            codec.safe_name(name, "_"): info
            for name, info in list(summary.items())[:2000]
            if type(info) is dict
        }
        errors = header.get("errors") or []
        self.notebook_errors = [codec.one_line(e) for e in errors[:20] if isinstance(e, str)]

    def ensure(self) -> Sandbox:
        if self.sandbox is None or not self.sandbox.alive:
            self.start()
        assert self.sandbox is not None
        return self.sandbox

    def begin_question(self) -> None:
        self.question_left = self.limits.question_seconds
        self.question_over = False

    def close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.close()


def _same(before: Any, after: Any) -> bool:
    import torch

    if isinstance(before, torch.Tensor):
        if not isinstance(after, torch.Tensor):
            return False
        if before.shape != after.shape or before.dtype != after.dtype:
            return False
        if before.is_floating_point():
            return bool(torch.equal(before.isnan(), after.isnan())) and bool(
                torch.equal(before.nan_to_num(), after.nan_to_num())
            )
        return bool(torch.equal(before, after))
    return True


def _mirror(original: Any, after: Any) -> None:
    """Apply the learner's in-place edits of a container argument to the grader's copy."""
    import torch

    if isinstance(original, list) and isinstance(after, list) and original != after:
        original[:] = after
    elif isinstance(original, set) and isinstance(after, set) and original != after:
        original.clear()
        original.update(after)
    elif isinstance(original, dict) and isinstance(after, dict) and original != after:
        original.clear()
        original.update(after)
    elif isinstance(original, torch.Generator) and isinstance(after, torch.Generator):
        original.set_state(after.get_state())  # draws made in the sandbox advance it here


class RemoteFunction(RemoteAnswer):
    """A learner's function that lives in the sandbox; calling it sends plain data there."""

    def __init__(self, session: Session, name: str, params: list[str]) -> None:
        self._session = session
        self.__name__ = name
        self._params = [p for p in params if codec.safe_name(p, "")][:50]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.remote_call(args, kwargs, None)

    def remote_call(self, args: tuple, kwargs: dict[str, Any], seconds: float | None) -> Any:
        session, name = self._session, self.__name__
        if name in session.timed_out:
            raise AnswerFailure(
                f"`{name}` did not finish within {session.timed_out[name]:g} s in an earlier "
                "test (endless loop?), so it was not run again."
            )
        if session.question_over or session.question_left <= 0:
            session.question_over = True
            raise AnswerFailure(
                f"this question's calls used up its time limit of "
                f"{session.limits.question_seconds:g} s, so the question scores 0."
            )
        if time.monotonic() >= session.deadline:
            raise AnswerFailure("the submission's time limit is used up; no more calls.")
        limit = session.limits.call_seconds if seconds is None else seconds
        budget = min(limit, session.question_left, session.deadline - time.monotonic())
        encoded, tensors = codec.encode((tuple(args), dict(kwargs)))
        sandbox = session.ensure()
        start = time.monotonic()
        try:
            header, out = sandbox.request(
                {"op": "call", "name": name, "args": encoded["t"][0], "kwargs": encoded["t"][1]},
                tensors,
                budget,
            )
        except codec.Timeout:
            session.question_left -= time.monotonic() - start
            if budget < limit:  # the question's (or submission's) time ran out, not the call's
                session.question_over = True
                raise AnswerFailure(
                    f"`{name}` was stopped: this question's calls used up its time limit of "
                    f"{session.limits.question_seconds:g} s, so the question scores 0."
                ) from None
            session.timed_out[name] = limit
            raise AnswerFailure(
                f"your function `{name}` did not finish within {limit:g} s (endless loop?)"
            ) from None
        except (codec.Closed, OSError):
            session.question_left -= time.monotonic() - start
            raise AnswerFailure(
                f"`{name}` ended the grading process (os._exit, a crash or the "
                f"{session.limits.memory_mb} MiB memory limit)."
            ) from None
        except codec.ProtocolError as error:
            raise AnswerFailure(f"`{name}` sent back unreadable data ({error}).") from None
        session.question_left -= time.monotonic() - start
        return self._result(header, out, args, kwargs)

    def _result(self, header: dict[str, Any], out: dict[str, Any], args: tuple, kwargs: dict):
        name = self.__name__
        error = header.get("error")
        if type(error) is dict:
            kind = codec.safe_name(error.get("type"), "Exception")
            message = codec.one_line(error.get("message", ""))
            if error.get("not_implemented") is True:
                raise NotImplementedError(message)
            if error.get("exit") is True:
                raise AnswerFailure(
                    f"`{name}` called sys.exit() ({kind}); a graded function must return its "
                    "result."
                )
            raise AnswerFailure(f"`{name}` raised {kind}: {message}")
        try:
            decoded = codec.decode(header.get("result"), out)
        except codec.ProtocolError as problem:
            raise AnswerFailure(f"`{name}` sent back unreadable data ({problem}).") from None
        if not (isinstance(decoded, tuple) and len(decoded) == 3):
            raise AnswerFailure(f"`{name}` sent back unreadable data.")
        result, args_after, kwargs_after = decoded
        if not (isinstance(args_after, tuple) and len(args_after) == len(args)):
            raise AnswerFailure(f"`{name}` sent back unreadable data.")
        if not (isinstance(kwargs_after, dict) and set(kwargs_after) == set(kwargs)):
            raise AnswerFailure(f"`{name}` sent back unreadable data.")
        pairs = [(self._param(i), a, args_after[i]) for i, a in enumerate(args)]
        pairs += [(key, value, kwargs_after[key]) for key, value in kwargs.items()]
        for label, before, after in pairs:
            if not _same(before, after):
                raise AnswerFailure(in_place_message(name, label))
            _mirror(before, after)
        return result

    def _param(self, index: int) -> str:
        return self._params[index] if index < len(self._params) else f"argument {index + 1}"


class RemoteEnv(Mapping[str, Any]):
    """The notebook's globals as the tests see them: functions become RemoteFunctions; other
    values are stand-ins that carry only their type's name."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def _names(self) -> dict[str, Any]:
        try:
            self._session.ensure()
        except AnswerFailure:
            pass
        return self._session.globals

    def __getitem__(self, name: str) -> Any:
        info = self._names()[name]
        if info.get("callable") is True:
            params = info.get("params") if type(info.get("params")) is list else []
            return RemoteFunction(self._session, name, [str(p) for p in params])
        return codec.decode({"opaque": info.get("type")}, {})

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())
