"""pyproject.toml, environment.yml, config.PINS and the CI script must tell the same story."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

from course_utils import config

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge names that differ from PyPI's


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _specs(lines: list[str]) -> dict[str, str]:
    reqs = [Requirement(line) for line in lines]
    return {r.name.lower(): str(r.specifier) for r in reqs}


def _normal(spec: str) -> str:
    return ",".join(sorted(spec.replace(" ", "").split(",")))


def test_pyproject_dependencies_match_config_pins():
    project = _pyproject()["project"]
    assert set(_specs(project["dependencies"])) == set(config.PINS)
    for name, spec in config.PINS.items():
        assert _normal(_specs(project["dependencies"])[name]) == _normal(spec), name
    dev = _specs(project["optional-dependencies"]["dev"])
    assert set(dev) == set(config.DEV_PINS)
    for name, spec in config.DEV_PINS.items():
        assert _normal(dev[name]) == _normal(spec), name
    assert project["requires-python"] == config.PYTHON_REQUIRES


def test_environment_yml_lists_the_same_packages_and_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = {}, {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip = _specs([d for d in dep["pip"] if not d.startswith("-e")])
        elif not dep.startswith(("python", "pip")):
            name, spec = re.match(r"([A-Za-z0-9_.-]+)(.*)", dep).groups()
            conda[CONDA_NAMES.get(name, name).lower()] = spec
    listed = conda | pip
    expected = config.PINS | config.DEV_PINS
    assert set(listed) == set(expected), set(listed) ^ set(expected)
    for name, spec in expected.items():
        assert _normal(listed[name]) == _normal(spec), name
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert ">=3.11" in python


def test_ci_runs_the_readme_commands():
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## Set-up on a fresh machine")[1].split("```bash")[1].split("```")[0]
    commands = [line.split("#")[0].strip() for line in setup.strip().splitlines()]
    assert commands == ["make install", "make test"], "README must give exactly two set-up commands"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make install" in ci and "make test" in ci


def test_hub_models_and_datasets_are_pinned():
    for key, model in config.HUB_MODELS.items():
        assert "/" in model.repo_id, key
        pinned = re.fullmatch(r"[0-9a-f]{40}", model.revision)
        assert pinned or "verify online" in model.note, f"{key}: revision is not a commit hash"
    for key, ds in config.DATASETS.items():
        assert re.fullmatch(r"[0-9a-f]{40}", ds.revision) or ds.revision == "main", key


WHEEL_LIMIT_MB = 60  # PyPI refuses files over 100 MB; leave room for chapters 4-7 (~6 MB each)


def test_course_checkpoints_are_package_data_and_the_wheel_stays_small():
    """Colab installs from git without a clone: the checkpoints must travel in the wheel."""
    from fnmatch import fnmatch

    from course_utils.checkpoints import CHECKPOINTS, PACKAGE_CHECKPOINTS

    patterns = _pyproject()["tool"]["setuptools"]["package-data"]["course_utils"]
    package = PACKAGE_CHECKPOINTS.parent
    shipped = [p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    data = [p for p in shipped if p.suffix != ".py"]
    for name in CHECKPOINTS:
        files = sorted((PACKAGE_CHECKPOINTS / name).iterdir())
        assert {"config.json", "model.safetensors", "tokenizer.json"} <= {f.name for f in files}
        for f in files:
            rel = f.relative_to(package).as_posix()
            assert any(fnmatch(rel, pat) for pat in patterns), f"{rel} would miss the wheel"
    size_mb = sum(p.stat().st_size for p in shipped) / 2**20
    assert size_mb < WHEEL_LIMIT_MB, f"the package holds {size_mb:.0f} MB ({len(data)} data files)"


def test_every_subpackage_ships():
    """A folder with an __init__.py under course_utils is a package the wheel must carry."""
    from setuptools import find_namespace_packages

    find = _pyproject()["tool"]["setuptools"]["packages"]["find"]
    src = ROOT / "src"
    found = set(find_namespace_packages(str(src), include=find["include"], exclude=find["exclude"]))
    for init in (src / "course_utils").rglob("__init__.py"):
        name = ".".join(init.parent.relative_to(src).parts)
        assert name in found, f"{name} would be missing from the wheel"
    assert not any("course_checkpoints" in name for name in found)
