"""Load pinned Hub checkpoints: online from the Hub, offline from a local Hub cache or from a
checkpoint the course trained itself, and always say which one is used."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from huggingface_hub import constants, try_to_load_from_cache
from huggingface_hub.errors import EntryNotFoundError, HFValidationError

from course_utils.config import HUB_MODELS, HubModel
from course_utils.errors import CourseError

Source = Literal["hub", "cache", "course-checkpoint"]
# What from_pretrained raises for missing files, network failures or Hub refusals
# (huggingface_hub's HTTP and local-entry errors are OSError subclasses).
_LOAD_ERRORS = (OSError, EntryNotFoundError, HFValidationError)


def offline_mode() -> bool:
    """True when env HF_HUB_OFFLINE is truthy (1, true, yes, on)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_cache_dir() -> Path:
    """The Hub cache folder, read from the environment now (huggingface_hub reads it at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def hub_reachable(timeout: float = 2.0) -> bool:
    """Quick HTTPS HEAD to the Hub; False in offline mode or on any failure. Never raises."""
    if offline_mode():
        return False
    request = urllib.request.Request(constants.ENDPOINT, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return True
    except urllib.error.HTTPError as err:
        return err.code < 500  # a 4xx still proves the Hub answered; a 5xx means it is down
    except Exception:  # DNS, TLS, timeout, proxy...: all mean "the Hub cannot be used now"
        return False


@dataclass
class ResolvedModel:
    """Where a course model will be loaded from."""

    name: str
    repo_id: str
    revision: str
    source: Source
    path: Path | None = None

    def describe(self) -> str:
        """Two honest short lines about what is loaded: no machine path and at most 88
        characters a line, since the site prints them."""
        pinned = f"{self.repo_id}@{self.revision[:8]}"
        if self.source == "hub":
            return f"{self.name}: {pinned}\n  from the Hugging Face Hub"
        if self.source == "cache":
            return f"{self.name}: {pinned}\n  from the local Hub cache (HF_HUB_CACHE)"
        return (
            f"{self.name}: a small model trained by this course,\n"
            f"  NOT {self.repo_id} (course checkpoint {self.path.name if self.path else '?'})"
        )


def hub_model(name: str) -> HubModel:
    """The config.HUB_MODELS entry for `name`, or a CourseError listing the valid names."""
    if name not in HUB_MODELS:
        raise CourseError(f"Unknown model {name!r}.", fix=f"use one of {', '.join(HUB_MODELS)}")
    return HUB_MODELS[name]


def cached_snapshot(model: HubModel, cache_dir: Path | None = None) -> Path | None:
    """The snapshot folder of model@revision in the local Hub cache, or None."""
    cache_dir = cache_dir or hub_cache_dir()
    found = try_to_load_from_cache(
        model.repo_id, "config.json", cache_dir=cache_dir, revision=model.revision
    )
    return Path(found).parent if isinstance(found, str) else None


def resolve_model(name: str, fallback: str | Path | None = None) -> ResolvedModel:
    """Where model `name` comes from: the Hub, the local Hub cache, or the checkpoint `fallback`."""
    model = hub_model(name)
    if not offline_mode() and hub_reachable():
        return ResolvedModel(name, model.repo_id, model.revision, "hub")
    cache = hub_cache_dir()
    snapshot = cached_snapshot(model, cache)
    if snapshot is not None:
        return ResolvedModel(name, model.repo_id, model.revision, "cache", snapshot)
    if fallback is not None and Path(fallback).is_dir():
        path = Path(fallback)
        return ResolvedModel(name, model.repo_id, model.revision, "course-checkpoint", path)
    pinned = f"{model.repo_id}@{model.revision}"
    why = "HF_HUB_OFFLINE=1 is set" if offline_mode() else "the Hugging Face Hub is not reachable"
    message = f"Cannot load {name}: {why}, and {pinned} is not in the Hub cache {cache}"
    if fallback is not None:
        message += f"; the course checkpoint {fallback} does not exist (train it first)"
    raise CourseError(
        message + ".",
        fix=(
            "connect to the internet (and unset HF_HUB_OFFLINE); or set HF_HUB_CACHE to a cache "
            f"that holds {pinned}; or pass fallback=<folder of a course checkpoint>"
        ),
    )


def load_pretrained(cls: Any, name: str, fallback: str | Path | None = None, **kwargs: Any) -> Any:
    """`cls.from_pretrained` (AutoModel, AutoTokenizer, ...) for course model `name`.

    Prints where the weights come from. `fallback` is the folder of a course checkpoint to use
    when neither the Hub nor the local Hub cache has the pinned revision.
    """
    resolved = resolve_model(name, fallback)
    print(resolved.describe())
    try:
        if resolved.source == "course-checkpoint":
            return cls.from_pretrained(resolved.path, **kwargs)
        # Pass the cache explicitly: huggingface_hub reads HF_HUB_CACHE/HF_HUB_OFFLINE at import
        kwargs.setdefault("cache_dir", str(hub_cache_dir()))
        if resolved.source == "cache":
            kwargs["local_files_only"] = True
        return cls.from_pretrained(resolved.repo_id, revision=resolved.revision, **kwargs)
    except _LOAD_ERRORS as err:
        if resolved.source == "course-checkpoint":
            fix = f"check that {resolved.path} holds a checkpoint written by save_pretrained"
        else:
            fix = (
                "check the connection and retry; offline, set HF_HUB_OFFLINE=1 and HF_HUB_CACHE "
                f"to a cache holding {resolved.repo_id}@{resolved.revision}, "
                "or pass fallback=<course checkpoint folder>"
            )
        message = f"Could not load {resolved.describe()}: {type(err).__name__}: {err}"
        raise CourseError(message, fix) from err
