"""course_utils.results: reading committed results (clone, explicit path, GitHub) and git_commit."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from course_utils import albert, config, electra, finetune, results
from course_utils.errors import CourseError

ROOT = Path(__file__).resolve().parents[1]
RERUN = "python -m course_utils.example experiment --out FILE"


@pytest.fixture
def no_clone_file(monkeypatch, tmp_path):
    """As in an installed package without a clone: REPO_ROOT holds no results/ folder."""
    monkeypatch.setattr(results, "REPO_ROOT", tmp_path)
    return tmp_path


def test_repo_root_is_the_clone():
    assert (results.REPO_ROOT / "pyproject.toml").is_file()
    assert results.REPO_ROOT / "src" / "course_utils" / "results.py" == Path(results.__file__)


def test_reads_the_committed_file_of_the_clone(capsys):
    relative = electra.RESULTS_FILE
    expected = json.loads((ROOT / relative).read_text(encoding="utf-8"))
    assert results.load_results(relative, RERUN) == expected
    assert capsys.readouterr().out == f"results: {relative} (committed file)\n"
    assert results.load_results(relative, RERUN, verbose=False) == expected
    assert capsys.readouterr().out == ""


def test_an_explicit_path_wins_over_the_clone(tmp_path, capsys):
    file = tmp_path / "mine.json"
    file.write_text(json.dumps({"budget": "ci", "runs": [1, 2]}), encoding="utf-8")
    assert results.load_results(electra.RESULTS_FILE, RERUN, path=file) == {
        "budget": "ci",
        "runs": [1, 2],
    }
    assert capsys.readouterr().out == "results: mine.json (committed file)\n"
    assert results.load_results(electra.RESULTS_FILE, RERUN, path=str(file), verbose=False)


def test_a_missing_explicit_path_is_an_error_without_fallback(tmp_path, monkeypatch):
    monkeypatch.setattr(
        urllib.request, "urlopen", lambda *a, **k: pytest.fail("asked GitHub for a given path")
    )
    missing = tmp_path / "missing.json"
    with pytest.raises(CourseError, match="No results file at") as info:
        results.load_results(electra.RESULTS_FILE, RERUN, path=missing)
    assert str(missing) in info.value.message and info.value.fix == "check the path"


class _Response(io.BytesIO):
    """What urlopen returns: a context manager with read()."""

    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def test_without_a_clone_it_reads_github_at_the_pinned_ref(no_clone_file, monkeypatch, capsys):
    monkeypatch.setattr(config, "GITHUB_REPO", "someone/fork")
    monkeypatch.setattr(config, "GITHUB_REF", "v9")
    asked: list[tuple[str, float]] = []

    def fake_urlopen(url: str, timeout: float) -> _Response:
        asked.append((url, timeout))
        return _Response(json.dumps({"from": "github"}).encode("utf-8"))

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    assert results.load_results("results/x.json", RERUN) == {"from": "github"}
    assert asked == [("https://raw.githubusercontent.com/someone/fork/v9/results/x.json", 10)]
    assert capsys.readouterr().out == "results: results/x.json read from GitHub (someone/fork@v9)\n"


def test_without_a_clone_or_github_the_error_names_the_rerun_command(no_clone_file, monkeypatch):
    def offline(url: str, timeout: float) -> None:
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(CourseError) as info:
        results.load_results("results/x.json", RERUN)
    assert info.value.message == (
        "No results/x.json in this installation and GitHub did not answer (network unreachable)."
    )
    assert info.value.fix.endswith(f"or rerun: {RERUN}")


@pytest.mark.parametrize(
    ("module", "command"),
    [
        (electra, "python -m course_utils.electra experiment --budget cpu --out FILE"),
        (albert, "python -m course_utils.albert experiment --budget cpu --out FILE"),
        (finetune, "python scripts/finetune.py families --budget cpu"),
    ],
)
def test_the_chapter_wrappers_read_their_own_file_and_name_their_command(
    module, command, monkeypatch, capsys, tmp_path
):
    committed = json.loads((ROOT / module.RESULTS_FILE).read_text(encoding="utf-8"))
    assert module.load_results() == committed
    assert capsys.readouterr().out == f"results: {module.RESULTS_FILE} (committed file)\n"

    monkeypatch.setattr(results, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: (_ for _ in ()).throw(OSError()))
    with pytest.raises(CourseError, match=f"No {module.RESULTS_FILE} in this installation") as info:
        module.load_results(verbose=False)
    assert info.value.fix.endswith(f"or rerun: {command}")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_commit_in_a_repository(tmp_path):
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=tmp_path, capture_output=True, text=True, check=True
        ).stdout.strip()

    git("init", "-q")
    (tmp_path / "f.txt").write_text("x", encoding="utf-8")
    git("add", "f.txt")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    head = git("rev-parse", "HEAD")
    assert results.git_commit(cwd=tmp_path) == head and len(head) == 40
    short = results.git_commit(short=True, cwd=tmp_path)
    assert short == git("rev-parse", "--short", "HEAD") and head.startswith(short)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_commit_outside_a_repository(tmp_path, monkeypatch):
    # Stop git's upward search at tmp_path, so a repository around /tmp cannot answer.
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    outside = tmp_path / "plain"
    outside.mkdir()
    assert results.git_commit(cwd=outside) is None
    assert results.git_commit(cwd=tmp_path / "does-not-exist") is None  # OSError from the cwd


def test_git_commit_without_git(monkeypatch):
    def no_git(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError("git")

    monkeypatch.setattr(subprocess, "run", no_git)
    assert results.git_commit() is None
