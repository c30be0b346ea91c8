"""Shared fixtures. ../shared (data + Hub cache) sits beside the repository root, also in CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


def _missing(what: str) -> None:
    """Fail where the offline copies must exist (this project's CI), skip elsewhere (GitHub)."""
    if os.environ.get("COURSE_REQUIRE_SHARED") == "1":
        pytest.fail(f"{what} not found, and COURSE_REQUIRE_SHARED=1 says it must be there")
    pytest.skip(f"{what} not found: these tests need the offline copies (set COURSE_DATA_DIR)")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared folder beside the repository root."""
    path = REPO_ROOT.parent / "shared"
    if not path.is_dir():
        _missing(f"{path} (the shared folder beside the repository)")
    return path


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """Offline datasets: env COURSE_DATA_DIR if set, else ../shared/data."""
    path = Path(os.environ.get("COURSE_DATA_DIR") or REPO_ROOT.parent / "shared" / "data")
    if not path.is_dir():
        _missing(f"offline data folder {path}")
    return path


@pytest.fixture(scope="session")
def shared_hub_cache(shared_dir: Path) -> Path:
    """Read-only Hugging Face Hub cache holding all-MiniLM-L6-v2."""
    return shared_dir / "hf-hub"


@pytest.fixture(scope="session")
def wiki_lines(shared_data_dir: Path) -> list[str]:
    """The first 6000 lines of the offline WikiText-2 train split (real text for tokenizers)."""
    from course_utils.data import load_course_dataset

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_DATA_DIR", str(shared_data_dir))
        return list(load_course_dataset("wikitext-2", split="train")["text"][:6000])
