"""What Colab does, without Colab: install from git, copy one notebook alone, run it.

A learner who clicks a badge gets the notebook file only, no clone of the repository; its
install cell pip-installs the course package from git. This test repeats that offline:

1. a fresh virtual environment OUTSIDE the repository; `--system-site-packages` stands in for
   Colab's preinstalled torch, transformers, jupyter etc. (the test asserts that `course_utils`
   itself is imported from the venv's own install, not from this checkout's src/);
2. the install cell itself, run by the venv's python with `google.colab` faked and its git URL
   pointed at this repository (`git+file://localhost/...@<HEAD commit>`): the same pip command,
   the same constraints that keep torch and numpy;
3. each notebook, taken from that same commit, copied alone into an empty folder and executed
   there by a kernel running the venv's python, on the `ci` budget, offline.

It tests the committed state (HEAD), as Colab sees what was pushed: commit before running it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course_utils import colab

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [
    "notebooks/02_bert.ipynb",
    "notebooks/03_roberta.ipynb",
    "solutions/01_attention.ipynb",
]
KERNEL = "colab-venv"
GITHUB_URL = f"git+https://github.com/{colab.GITHUB_REPO}@{colab.GITHUB_REF}"


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        shown = " ".join(map(str, cmd))[:300]
        pytest.fail(f"{shown} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return proc


def _clean_env() -> dict[str, str]:
    """This process's environment minus what would let the checkout leak into the venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(COURSE_BUDGET="ci", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    env.pop("COURSE_CHECKPOINT_DIR", None)  # the checkpoints must come from the installed package
    return env


@pytest.fixture(scope="module")
def colab_venv(tmp_path_factory: pytest.TempPathFactory, shared_data_dir: Path) -> dict:
    """A venv outside the repository with the course installed by the Colab install cell."""
    base = tmp_path_factory.mktemp("colab")
    assert ROOT not in base.parents, "the venv must live outside the repository"
    commit = _run(["git", "rev-parse", "HEAD"], cwd=ROOT).stdout.strip()
    venv = base / "venv"
    # --without-pip: `python -m pip` then runs the system's pip, which installs into this venv
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    env = _clean_env() | {"COURSE_DATA_DIR": str(shared_data_dir)}

    cell = colab.install_source()
    assert cell.count(GITHUB_URL) == 1, "the install cell no longer installs from the git URL"
    # "localhost": pip's requirement parser wants a host in a git+file URL; git accepts it
    cell = cell.replace(GITHUB_URL, f"git+file://localhost{ROOT}@{commit}")
    script = "import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')\n"
    install = _run([str(python), "-c", script + cell], cwd=base, env=env)
    assert "Course package installed; no restart needed." in install.stdout, install.stdout

    probe = (
        "import json, course_utils\n"
        "from course_utils.checkpoints import checkpoint_dir\n"
        "print(json.dumps({'file': course_utils.__file__, "
        "'ckpt': str(checkpoint_dir('course-bert-small'))}))"
    )
    found = json.loads(_run([str(python), "-c", probe], cwd=base, env=env).stdout)
    package = Path(found["file"]).resolve()
    assert venv.resolve() in package.parents, f"course_utils imported from {package}, not the venv"
    assert ROOT not in package.parents
    assert (Path(found["ckpt"]) / "model.safetensors").is_file(), "checkpoints not in the wheel"

    # a kernel that runs the venv's python, as Colab's kernel runs Colab's
    kernels = base / "jupyter" / "kernels" / KERNEL
    kernels.mkdir(parents=True)
    spec = {
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab stand-in",
        "language": "python",
    }
    (kernels / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return {"base": base, "commit": commit, "env": env, "jupyter": base / "jupyter"}


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_runs_alone_after_the_colab_install(
    notebook: str, colab_venv: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _run(["git", "show", f"{colab_venv['commit']}:{notebook}"], cwd=ROOT).stdout
    folder = tmp_path / "content"  # Colab's /content: the notebook and nothing else
    folder.mkdir()
    path = folder / Path(notebook).name
    path.write_text(source, encoding="utf-8")
    nb = nbformat.reads(source, as_version=4)
    for key, value in colab_venv["env"].items():
        monkeypatch.setenv(key, value)  # the kernel inherits this environment
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.delenv("COURSE_CHECKPOINT_DIR", raising=False)
    monkeypatch.setenv("JUPYTER_PATH", str(colab_venv["jupyter"]))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    client = NotebookClient(
        nb, timeout=600, kernel_name=KERNEL, resources={"metadata": {"path": str(folder)}}
    )
    client.execute()
    assert sorted(p.name for p in folder.iterdir() if p.suffix == ".ipynb") == [path.name]
