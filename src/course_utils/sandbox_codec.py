"""Plain-data messages between the grader and a grading sandbox (no pickle anywhere).

A message is a JSON header plus a safetensors blob for the tensors it refers to, framed as
``<u64 json length><u64 blob length><json><blob>``. Values are encoded as tagged JSON:
``None``, booleans, numbers and strings as themselves, containers and tensors as one-key objects
(``{"l": [...]}`` a list, ``{"t": [...]}`` a tuple, ``{"s": [...]}`` a set, ``{"d": [[k, v]]}``
a dict, ``{"tensor": key}``, ``{"ndarray": key}``, ``{"gen": key}`` a torch.Generator's state,
``{"dtype": "float32"}``, and ``{"opaque": "TypeName"}`` for anything else).

Both sides use this module, but only the grader's decoder is a trust boundary: it accepts
nothing but these tags, bounded in depth, size and count, and builds fresh plain objects (base
``torch.Tensor``, ``list``, ...), so nothing the sandbox sends can carry behaviour into the grader.
"""

from __future__ import annotations

import json
import os
import re
import select
import struct
import time
from typing import Any

#: Largest message the grader accepts from a sandbox (bytes).
MAX_MESSAGE_BYTES = 256 * 2**20
MAX_DEPTH = 32
MAX_NODES = 2_000_000
_HEADER = struct.Struct("<QQ")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,79}")


class ProtocolError(RuntimeError):
    """A message that breaks the protocol (malformed, too large, unknown tag)."""


class Timeout(RuntimeError):
    """The other side did not answer before the deadline."""


class Closed(RuntimeError):
    """The other side closed its end (the sandbox process ended)."""


def safe_name(text: Any, default: str = "object") -> str:
    """`text` if it is a short identifier, else `default` (names shown in feedback)."""
    return text if isinstance(text, str) and _NAME.fullmatch(text) else default


def one_line(text: Any, limit: int = 300) -> str:
    """First line of `text`, at most `limit` characters (student text in feedback)."""
    lines = str(text).strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


# ------------------------------------------------------------------------------------------
# Encoding (both sides)


class _Encoder:
    def __init__(self) -> None:
        self.tensors: dict[str, Any] = {}

    def _store(self, tensor: Any) -> str:
        key = f"t{len(self.tensors)}"
        self.tensors[key] = tensor
        return key

    def _tensor(self, value: Any) -> Any:
        import torch

        # A plain, contiguous CPU copy of the data, taken with subclass hooks switched off:
        # safetensors then writes raw bytes, never objects or behaviour.
        with torch._C.DisableTorchFunctionSubclass():
            plain = torch.Tensor.as_subclass(value, torch.Tensor).detach()
            if plain.layout != torch.strided or plain.is_complex() or plain.is_quantized:
                return {"opaque": "UnsupportedTensor"}
            return {"tensor": self._store(plain.to("cpu").clone().contiguous())}

    def encode(self, value: Any, depth: int = 0) -> Any:
        import torch

        if depth > MAX_DEPTH:
            raise ProtocolError("nested too deeply")
        if value is None or isinstance(value, bool | str):
            return value if not isinstance(value, str) else str(value)
        if isinstance(value, int | float) and type(value) in (int, float):
            return value
        if isinstance(value, torch.Tensor):
            return self._tensor(value)
        if isinstance(value, torch.Generator):
            return {"gen": self._store(value.get_state().clone())}
        if isinstance(value, torch.dtype):
            return {"dtype": str(value).removeprefix("torch.")}
        for kind, tag in ((tuple, "t"), (list, "l"), (frozenset, "f"), (set, "s")):
            if isinstance(value, kind):
                return {tag: [self.encode(v, depth + 1) for v in list(value)]}
        if isinstance(value, dict):
            pairs = list(dict.items(value))
            return {"d": [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in pairs]}
        try:  # numpy without importing it when absent
            import numpy as np
        except ImportError:  # pragma: no cover - numpy comes with torch
            np = None
        if np is not None and isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            return {"ndarray": self._store(torch.from_numpy(np.array(value, copy=True)))}
        if np is not None and isinstance(value, np.generic) and value.dtype.kind in "biuf":
            return self.encode(value.item(), depth)
        if isinstance(value, int):  # int subclasses (bool handled above): their plain value
            return int.__index__(value)
        if isinstance(value, float):
            return float.__float__(value)
        return {"opaque": safe_name(type(value).__name__)}


def encode(value: Any) -> tuple[Any, dict[str, Any]]:
    """Tagged JSON for `value` and the tensors it refers to."""
    encoder = _Encoder()
    return encoder.encode(value), encoder.tensors


# ------------------------------------------------------------------------------------------
# Decoding (the grader's trust boundary)


class Opaque:
    """Stands in for a returned object that is not plain data; its class carries the name."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object>"


def _opaque(name: str) -> Opaque:
    return type(safe_name(name), (Opaque,), {})()


class _Decoder:
    def __init__(self, tensors: dict[str, Any]) -> None:
        self.tensors = tensors
        self.nodes = 0

    def _tensor(self, key: Any) -> Any:
        if not isinstance(key, str) or key not in self.tensors:
            raise ProtocolError("unknown tensor key")
        return self.tensors[key]

    def decode(self, node: Any, depth: int = 0) -> Any:
        import torch

        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise ProtocolError("value too large or nested too deeply")
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is not dict or len(node) != 1:
            raise ProtocolError("malformed value")
        ((tag, body),) = node.items()
        if tag in ("l", "t", "s", "f"):
            if type(body) is not list:
                raise ProtocolError("malformed container")
            items = [self.decode(v, depth + 1) for v in body]
            if tag == "l":
                return items
            if tag == "t":
                return tuple(items)
            try:
                return set(items) if tag == "s" else frozenset(items)
            except TypeError as error:
                raise ProtocolError("unhashable set item") from error
        if tag == "d":
            if type(body) is not list or any(type(p) is not list or len(p) != 2 for p in body):
                raise ProtocolError("malformed dict")
            try:
                return {self.decode(k, depth + 1): self.decode(v, depth + 1) for k, v in body}
            except TypeError as error:
                raise ProtocolError("unhashable dict key") from error
        if tag == "tensor":
            return self._tensor(body)
        if tag == "ndarray":
            return self._tensor(body).numpy()
        if tag == "gen":
            state = self._tensor(body)
            generator = torch.Generator()
            try:
                generator.set_state(state)
            except (RuntimeError, TypeError) as error:
                raise ProtocolError("invalid generator state") from error
            return generator
        if tag == "dtype":
            dtype = getattr(torch, safe_name(body, "invalid"), None)
            if not isinstance(dtype, torch.dtype):
                raise ProtocolError("unknown dtype")
            return dtype
        if tag == "opaque":
            return _opaque(body)
        raise ProtocolError("unknown tag")


def decode(node: Any, tensors: dict[str, Any]) -> Any:
    """Plain Python and torch objects from tagged JSON (see the module docstring)."""
    return _Decoder(tensors).decode(node)


# ------------------------------------------------------------------------------------------
# Framing


def pack(header: dict[str, Any], tensors: dict[str, Any] | None = None) -> bytes:
    """One framed message."""
    body = json.dumps(header, allow_nan=True).encode("utf-8")
    blob = b""
    if tensors:
        from safetensors.torch import save

        blob = save(tensors)
    return _HEADER.pack(len(body), len(blob)) + body + blob


def unpack(body: bytes, blob: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and tensors of one message; ProtocolError when malformed."""
    try:
        header = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ProtocolError("malformed header") from error
    if type(header) is not dict:
        raise ProtocolError("malformed header")
    tensors: dict[str, Any] = {}
    if blob:
        from safetensors import SafetensorError
        from safetensors.torch import load

        try:
            tensors = load(blob)
        except (SafetensorError, ValueError, RuntimeError) as error:
            raise ProtocolError("malformed tensor data") from error
    return header, tensors


def write_all(fd: int, data: bytes, deadline: float | None = None) -> None:
    """Write `data` to `fd`, giving up (Timeout) at `deadline` (time.monotonic())."""
    view = memoryview(data)
    while view:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout
            _, ready, _ = select.select([], [fd], [], remaining)
            if not ready:
                raise Timeout
        try:
            written = os.write(fd, view[: 1 << 16])
        except (BrokenPipeError, ConnectionResetError) as error:
            raise Closed from error
        view = view[written:]


def read_exact(fd: int, size: int, deadline: float | None = None) -> bytes:
    """Read exactly `size` bytes (Closed at end of file, Timeout at `deadline`)."""
    chunks, left = [], size
    while left:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                raise Timeout
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise Closed
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_message(
    fd: int, deadline: float | None = None, max_bytes: int = MAX_MESSAGE_BYTES
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One framed message from `fd`."""
    body_size, blob_size = _HEADER.unpack(read_exact(fd, _HEADER.size, deadline))
    if body_size + blob_size > max_bytes:
        raise ProtocolError(f"message of {body_size + blob_size} bytes is over the limit")
    return unpack(read_exact(fd, body_size, deadline), read_exact(fd, blob_size, deadline))
