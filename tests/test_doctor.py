import importlib.metadata
import os
import subprocess
import sys
import time
import urllib.request

import pytest
import torch
from packaging.specifiers import SpecifierSet

from course_utils import doctor as doc
from course_utils.config import DEV_PINS, HUB_MODELS, PINS


def _lowest_allowed(spec: str) -> str:
    return next(s.version for s in SpecifierSet(spec) if s.operator == ">=")


ALL_PINS = {**PINS, **DEV_PINS}


@pytest.fixture
def healthy(monkeypatch, shared_data_dir, shared_hub_cache):
    """Offline setup with every pin satisfied, on a CPU machine without network."""
    for var in ("COURSE_DEVICE", "COURSE_BUDGET", "CI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(shared_hub_cache))
    monkeypatch.setenv("COURSE_DATA_DIR", str(shared_data_dir))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(
        urllib.request, "urlopen", lambda *a, **k: pytest.fail("doctor used the network offline")
    )
    versions = {name: _lowest_allowed(spec) for name, spec in ALL_PINS.items()}

    def fake_version(name):
        if name not in versions:
            raise importlib.metadata.PackageNotFoundError(name)
        return versions[name]

    monkeypatch.setattr(importlib.metadata, "version", fake_version)
    return versions


def test_all_good_offline_is_fast(healthy, shared_data_dir, shared_hub_cache, capsys):
    start = time.perf_counter()
    problems = doc.doctor()
    assert time.perf_counter() - start < 5.0
    assert problems == []
    out = capsys.readouterr().out
    assert out.rstrip().endswith("All good.")
    assert "offline mode (HF_HUB_OFFLINE=1)" in out
    assert f"{shared_hub_cache}: all-MiniLM-L6-v2 (1/{len(HUB_MODELS)})" in out
    assert f"COURSE_DATA_DIR={shared_data_dir}: wikitext-2, glue-sst2, stsbenchmark" in out
    assert "cpu: " in out and "budget     cpu" in out
    for name in ALL_PINS:
        assert f"  {name} " in out
    assert out.count("(optional)") == len(DEV_PINS)


def test_quiet_mode_prints_nothing(healthy, capsys):
    assert doc.doctor(print_report=False) == []
    assert capsys.readouterr().out == ""


def test_missing_and_out_of_range_packages(healthy, capsys):
    del healthy["torch"]
    healthy["transformers"] = "4.57.0"
    del healthy["ruff"]  # a dev tool: reported, not a problem
    problems = doc.doctor()
    assert [p.what for p in problems] == [
        "torch is not installed",
        "transformers 4.57.0 is outside the tested range >=5.0,<6",
    ]
    assert problems[0].fix == f'pip install "torch{PINS["torch"]}"'
    assert problems[1].fix == f'pip install "transformers{PINS["transformers"]}"'
    out = capsys.readouterr().out
    assert "ruff             not installed (optional)" in out
    assert "2 problem(s):" in out and "Fix: pip install" in out and "All good." not in out


def test_dev_tool_out_of_range_is_a_problem(healthy):
    healthy["pytest"] = "7.4.0"
    assert [p.what for p in doc.doctor(print_report=False)] == [
        "pytest 7.4.0 is outside the tested range >=8,<10"
    ]


def test_old_python(healthy, monkeypatch):
    monkeypatch.setattr(doc.platform, "python_version", lambda: "3.10.12")
    (problem,) = doc.doctor(print_report=False)
    assert "3.10.12" in problem.what and "3.11" in problem.fix


def test_unreachable_hub(healthy, monkeypatch):
    from course_utils import hub

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=2.0: False)
    (problem,) = doc.doctor(print_report=False)
    assert "not reachable" in problem.what
    assert (
        "HF_HUB_OFFLINE=1" in problem.fix
        and "HF_HUB_CACHE" in problem.fix
        and "COURSE_DATA_DIR" in problem.fix
    )


def test_no_data_source(healthy, monkeypatch):
    monkeypatch.delenv("COURSE_DATA_DIR")
    (problem,) = doc.doctor(print_report=False)
    assert "COURSE_DATA_DIR" in problem.what and problem.fix == "set COURSE_DATA_DIR=../shared/data"


def test_online_without_data_dir_is_fine(healthy, monkeypatch):
    from course_utils import hub

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("COURSE_DATA_DIR")
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=2.0: True)
    assert doc.doctor(print_report=False) == []


def test_bad_data_dir(healthy, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "missing"))
    (problem,) = doc.doctor(print_report=False)
    assert "is not a folder" in problem.what


def test_data_dir_without_datasets(healthy, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    (problem,) = doc.doctor(print_report=False)
    assert "lacks wikitext-2, glue-sst2, stsbenchmark" in problem.what


def test_forced_missing_gpu_and_bad_budget(healthy, monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    monkeypatch.setenv("COURSE_BUDGET", "huge")
    problems = doc.doctor(print_report=False)
    assert len(problems) == 2
    assert "cuda is not available" in problems[0].what
    assert "COURSE_BUDGET" in problems[1].what and "ci, cpu, gpu" in problems[1].fix


def test_low_gpu_memory(healthy, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=None: "Tesla T4")
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda index=None: (0.5 * 2**30, 15 * 2**30))
    monkeypatch.setenv("COURSE_BUDGET", "gpu")
    (problem,) = doc.doctor(print_report=False)
    assert "0.5 GiB" in problem.what and "restart" in problem.fix


def test_main_exit_code(monkeypatch):
    monkeypatch.setattr(doc, "doctor", lambda: [])
    assert doc.main() == 0
    monkeypatch.setattr(doc, "doctor", lambda: [doc.Problem("x", "y")])
    assert doc.main() == 1


def test_module_runs_as_script(repo_root, shared_data_dir, shared_hub_cache):
    env = {
        **os.environ,
        "PYTHONPATH": str(repo_root / "src"),
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_CACHE": str(shared_hub_cache),
        "COURSE_DATA_DIR": str(shared_data_dir),
        "COURSE_DEVICE": "tpu",  # guarantees one problem, so the exit code must be 1
    }
    result = subprocess.run(
        [sys.executable, "-m", "course_utils.doctor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "Unknown device COURSE_DEVICE='tpu'" in result.stdout
    assert "Traceback" not in result.stderr
