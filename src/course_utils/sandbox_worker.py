"""The process inside a grading sandbox: builds its jail, runs a notebook, answers calls.

Started by :mod:`course_utils.sandbox` as PID 1 of new PID, mount, network, IPC and UTS
namespaces (``unshare``), still root. It then

1. builds a new root on a tmpfs with read-only bind mounts of only what Python and torch need
   (``/usr``, the Python installation, site-packages, this package), a fresh ``/proc``, a few
   device nodes and a private writable ``/tmp``; the repository, the hidden tests, the
   submissions folder, the grader's output and the host's ``/tmp`` are not in it;
2. sets resource limits (address space, processes, file size, open files), ``chroot``s into the
   new root, drops to an unprivileged uid of its own with no capabilities and no new privileges;
3. executes the notebook's code cells, then answers ``call`` requests with the plain-data results
   of the learner's functions (:mod:`course_utils.sandbox_codec`).

Nothing here is trusted by the grader: the learner's code runs in this very process and may
change anything in it. Only the data it sends back is used, after strict decoding.
"""

from __future__ import annotations

import builtins
import ctypes
import inspect
import json
import os
import re
import resource
import sys
import types
from typing import Any

from course_utils import sandbox_codec as codec

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC = 32, 4096, 16384
PR_SET_NO_NEW_PRIVS = 38
_MAGIC_LINE = re.compile(r"^\s*[%!]", flags=re.MULTILINE)


# The learner's code may replace builtins (say `builtins.bool`): the worker's own machinery
# (decoding arguments, encoding results) runs with the originals, the learner's code with theirs.
_ORIGINAL_BUILTINS = dict(vars(builtins))


def _swap_builtins(target: dict[str, Any]) -> dict[str, Any]:
    """Install `target` as the builtins; return the ones that were installed."""
    namespace = vars(builtins)
    previous = dict(namespace)
    namespace.clear()
    namespace.update(target)
    return previous


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    libc = _libc()
    result = libc.mount(
        source.encode() if source else None,
        target.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"mount {source} on {target}: {os.strerror(error)}")


def _bind(root: str, path: str, *, writable: bool = False) -> None:
    target = root + path
    if os.path.isdir(path):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    _mount(path, target, None, MS_BIND | MS_REC)
    if not writable:
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
        _mount(None, target, None, flags)


def enter_jail(config: dict[str, Any]) -> None:
    """Build the new root, apply limits, chroot and drop privileges (see the module docstring)."""
    base = "/tmp"  # a tmpfs mounted here exists in this mount namespace only
    _mount("sandbox", base, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=700")
    root = base + "/root"
    os.mkdir(root)
    _mount("sandbox", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=755")
    for path in config["binds"]:
        if os.path.islink(path) and os.path.dirname(path) == "/":
            os.symlink(os.readlink(path), root + path)  # /bin -> usr/bin on merged-usr systems
        elif os.path.exists(path):
            _bind(root, path)
    os.makedirs(root + "/dev")
    for device in ("null", "zero", "full", "random", "urandom"):
        _bind(root, "/dev/" + device, writable=True)
    os.makedirs(root + "/proc")
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    tmp_options = f"size={int(config['tmp_mb'])}m,mode=1777"
    for path in ("/tmp", "/dev/shm"):
        os.makedirs(root + path, exist_ok=True)
        _mount("sandbox", root + path, "tmpfs", MS_NOSUID | MS_NODEV, tmp_options)
    _mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)

    memory = int(config["memory_mb"]) * 2**20
    limits = {
        resource.RLIMIT_AS: memory,
        resource.RLIMIT_NPROC: int(config["max_processes"]),
        resource.RLIMIT_FSIZE: 64 * 2**20,
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_NOFILE: 256,
    }
    for kind, value in limits.items():
        resource.setrlimit(kind, (value, value))

    os.chdir(root)
    os.chroot(".")
    os.chdir("/tmp")
    uid = int(config["uid"])
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # from root to a uid of its own: every capability is dropped
    if _libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")


class _Silent:
    """Stands in for `otter.Notebook` and IPython: checks and magics do nothing when grading."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def _fake_otter() -> types.ModuleType:
    module = types.ModuleType("otter")
    module.Notebook = _Silent  # type: ignore[attr-defined]
    return module


def run_cells(cells: list[str], namespace: dict[str, Any]) -> list[str]:
    """Execute code cells in order like a notebook run that continues after errors."""
    errors = []
    for number, source in enumerate(cells):
        if _MAGIC_LINE.search(source):
            from IPython.core.inputtransformer2 import TransformerManager

            source = TransformerManager().transform_cell(source)
        try:
            exec(compile(source, f"<cell {number}>", "exec"), namespace)
        except BaseException as error:  # noqa: BLE001 - a notebook run goes on after errors
            errors.append(f"cell {number}: {type(error).__name__}: {codec.one_line(error)}")
    return errors


def _summary(namespace: dict[str, Any]) -> dict[str, Any]:
    found = {}
    for name, value in list(namespace.items())[:2000]:
        if not isinstance(name, str) or name.startswith("_") or not codec.safe_name(name, ""):
            continue
        entry: dict[str, Any] = {"callable": callable(value), "type": type(value).__name__}
        if entry["callable"]:
            try:
                entry["params"] = [str(p) for p in inspect.signature(value).parameters][:50]
            except (TypeError, ValueError):
                entry["params"] = []
        found[name] = entry
    return found


def _call(
    namespace: dict[str, Any],
    header: dict[str, Any],
    tensors: dict[str, Any],
    learner_builtins: dict[str, Any] | None = None,
):
    args = codec.decode(header["args"], tensors)
    kwargs = codec.decode(header["kwargs"], tensors)
    function = namespace.get(header["name"])
    try:
        if learner_builtins is not None:
            _swap_builtins(learner_builtins)
        try:
            result = function(*args, **kwargs)
        finally:
            if learner_builtins is not None:
                learner_builtins.clear()
                learner_builtins.update(_swap_builtins(_ORIGINAL_BUILTINS))
        encoded, out = codec.encode((result, args, kwargs))
    except BaseException as error:  # noqa: BLE001 - reported to the grader as data
        try:
            message = codec.one_line(error)
        except BaseException:  # noqa: BLE001 - an exception whose str() fails
            message = "(no message)"
        return {
            "error": {
                "type": type(error).__name__,
                "message": message,
                "not_implemented": isinstance(error, NotImplementedError),
                "exit": isinstance(error, SystemExit),
            }
        }, {}
    return {"result": encoded}, out


def serve(read_fd: int, write_fd: int) -> None:
    """Answer requests until the grader says exit or closes the pipe."""
    namespace: dict[str, Any] = {"__name__": "__main__", "display": print}
    learner_builtins = dict(_ORIGINAL_BUILTINS)
    while True:
        try:
            header, tensors = codec.read_message(read_fd)
        except codec.Closed:
            return
        op = header.get("op")
        if op == "exit":
            return
        if op == "notebook":
            import torch

            torch.set_num_threads(1)
            sys.modules["otter"] = _fake_otter()
            errors = run_cells(header["cells"], namespace)
            learner_builtins = _swap_builtins(_ORIGINAL_BUILTINS)
            reply, out = {"globals": _summary(namespace), "errors": errors[:20]}, {}
        elif op == "call":
            reply, out = _call(namespace, header, tensors, learner_builtins)
        else:
            reply, out = {"fatal": f"unknown request {op!r}"}, {}
        codec.write_all(write_fd, codec.pack(reply, out))


def main() -> int:
    config = json.loads(sys.argv[1])
    read_fd, write_fd = config["fds"]
    try:
        enter_jail(config)
    except Exception as error:  # noqa: BLE001 - reported to the grader, which refuses to grade
        codec.write_all(write_fd, codec.pack({"fatal": f"{type(error).__name__}: {error}"}))
        return 1
    codec.write_all(write_fd, codec.pack({"ready": True, "uid": os.getuid()}))
    # The learner's prints go nowhere; the protocol has pipes of its own.
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    serve(read_fd, write_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
