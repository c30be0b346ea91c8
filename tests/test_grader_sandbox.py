"""Grades a student cannot forge: adversarial submissions through the real, sandboxed grader.

Each submission is the chapter's solution with one question replaced by a cheat (or an honest
answer with a problem), so every row's exact points say both that the cheat gained nothing and
that the other questions were still graded. All submissions of a chapter go through one `grade`
call (grading is start-up bound), with short time limits so that the test stays quick.
"""

from __future__ import annotations

import ast
import csv
import os
import re
import socket
import time
from pathlib import Path

import nbformat
import pytest
from exercise_fixtures.submissions import load_tests

from course_utils import exercises, sandbox
from course_utils.sandbox import Limits

ROOT = exercises.REPO_ROOT
LIMITS = Limits(call_seconds=3.0, question_seconds=6.0, notebook_seconds=60.0)
TIMEOUT = 120.0
MARKER = "detached-cheat-7f3a"

pytestmark = pytest.mark.skipif(
    sandbox.unavailable_reason() is not None,
    reason=f"no grading sandbox here: {sandbox.unavailable_reason()}",
)
if os.environ.get("CI") and sandbox.unavailable_reason() is not None:  # CI must run these
    raise RuntimeError(f"CI cannot create the grading sandbox: {sandbox.unavailable_reason()}")


def _solution(chapter: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / exercises.SOLUTION_DIR / f"{chapter}.ipynb", as_version=4)


def _replace(nb: nbformat.NotebookNode, function: str, source: str) -> nbformat.NotebookNode:
    """`nb` with the code cell defining `function` replaced by `source` (a copy)."""
    nb = nbformat.from_dict(nb)
    cells = [c for c in nb.cells if c.cell_type == "code" and f"def {function}(" in c.source]
    assert len(cells) == 1, function
    cells[0].source = source
    return nb


def _append(nb: nbformat.NotebookNode, *sources: str) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(nb)
    nb.cells += [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


ZERO_ATTENTION = """
import torch

def scaled_dot_product_attention(q, k, v, mask=None):
    weights = torch.zeros(*q.shape[:-1], k.shape[-2], dtype=q.dtype)
    return torch.zeros(*q.shape[:-1], v.shape[-1], dtype=q.dtype), weights
"""

PATCH_TORCH = """
import torch

torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.isclose = lambda a, b, **kwargs: torch.ones(
    torch.broadcast_shapes(a.shape, b.shape), dtype=torch.bool
)
torch.Tensor.__eq__ = lambda self, other: torch.ones(self.shape, dtype=torch.bool)
"""

PATCH_CHECKS = """
import course_utils.grading as grading
import course_utils.exercises as exercises

grading.check_close = lambda *args, **kwargs: None
grading.check_tensor = lambda value, **kwargs: value
grading.unpack = lambda result, *names, function: result
grading.call_answer = lambda fn, *args, **kwargs: fn(*args, **kwargs)
grading.GradingFailure = type("Nothing", (Exception,), {})
exercises.grade_question = lambda *args: {"score": 1000, "possible": 7, "feedback": ""}
"""

PATCH_BOOL = """
import builtins

builtins.bool = lambda *args: True
"""

PATCH_OTTER = """
import sys
import types

try:
    import otter.test_files.abstract_test as abstract

    abstract.TestFile.score = property(lambda self: 1000)
    abstract.TestFile.passed_all = property(lambda self: True)
except Exception:
    pass
fake = types.ModuleType("otter")
fake.api = types.SimpleNamespace(grade_submission=lambda *a, **k: None)
sys.modules["otter"] = fake
sys.modules["otter.api"] = fake.api
"""

TORCH_FUNCTION_SUBCLASS = '''
import torch

class AlwaysClose(torch.Tensor):
    """Pretends to equal anything it is compared with."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("isclose", "eq", "__eq__"):
            return torch.ones(args[0].shape, dtype=torch.bool)
        if name in ("allclose", "equal"):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})

def scaled_dot_product_attention(q, k, v, mask=None):
    output = torch.zeros(*q.shape[:-1], v.shape[-1], dtype=q.dtype)
    weights = torch.zeros(*q.shape[:-1], k.shape[-2], dtype=q.dtype)
    return output.as_subclass(AlwaysClose), weights.as_subclass(AlwaysClose)
'''

STACK_INSPECTION = '''
import inspect

import torch

def _from_the_caller(shape):
    """The expected value, if a calling test computed it before calling us."""
    for info in inspect.stack():
        for name, value in info.frame.f_locals.items():
            if "expected" in name and isinstance(value, torch.Tensor) and value.shape == shape:
                return value.clone()
    return None

def split_heads(x, num_heads):
    b, t, d = x.shape
    shape = (b, num_heads, t, d // num_heads)
    found = _from_the_caller(shape)
    return found if found is not None else torch.zeros(shape, dtype=x.dtype)

def merge_heads(x):
    b, h, t, d = x.shape
    found = _from_the_caller((b, t, h * d))
    return found if found is not None else torch.zeros(b, t, h * d, dtype=x.dtype)
'''


def write_files(tmp: Path) -> str:
    payload = (
        "from otter.test_files import test_case\\nOK_FORMAT = False\\nname = 'q99'\\n"
        "points = 1000\\n@test_case(points=1000)\\ndef t(env):\\n    pass\\n"
    )
    return f"""
import os
import pathlib

payload = "{payload}"
q1 = payload.replace("q99", "q1")
for folder in ("tests", "/tmp/tests", os.path.expanduser("~/tests"), "{tmp}", "{tmp}/tests",
               "{tmp}/submissions", "{ROOT}/tests", "{ROOT}/exercises/source"):
    try:
        os.makedirs(folder, exist_ok=True)
        pathlib.Path(folder, "q99.py").write_text(payload)
        pathlib.Path(folder, "q1.py").write_text(q1)
    except OSError:
        pass
for path in ("{tmp}/grades.csv", "../grades.csv", "grades.csv"):
    try:
        pathlib.Path(path).write_text("submission,q1,total\\ncheat,1000,1000\\n")
    except OSError:
        pass

def q99(env=None):
    return 1000
"""


def detached(tmp: Path) -> str:
    csv_path = tmp / "grades.csv"
    return f"""
import os
import subprocess
import sys
import time

code = "import time; time.sleep(1.4); open({str(csv_path)!r}, 'w').write('hacked')  # {MARKER}"
subprocess.Popen(
    [sys.executable, "-c", code],
    start_new_session=True,
    stdin=subprocess.DEVNULL,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
if os.fork() == 0:  # a double-forked daemon
    os.setsid()
    if os.fork() == 0:
        time.sleep(1.4)
        try:
            open({str(csv_path)!r}, "w").write("hacked")
        finally:
            os._exit(0)
    os._exit(0)
"""


def read_tests(port: int) -> str:
    patterns = [
        "/tmp/**/*.zip",
        "/tmp/**/tests/*.py",
        "/tmp/**/*autograder*",
        f"{ROOT}/exercises/source/*.ipynb",
        f"{ROOT}/tests/*.py",
        "/proc/*/root/tmp/**/*.zip",
        "/proc/*/cwd/**/q1.py",
        os.path.expanduser("~") + "/**/*.zip",
    ]
    return f"""
import glob
import inspect

def _hidden(path):
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return False
    return "hidden=True" in text or "hidden: true" in text

def scaled_dot_product_attention(q, k, v, mask=None):
    found = []
    for pattern in {patterns!r}:
        found += [path for path in glob.glob(pattern, recursive=True) if _hidden(path)]
    source = [line for f in inspect.stack() for line in (f.code_context or [])]
    found += [line for line in source if "check_close" in line or "expected" in line]
    import socket

    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=1).sendall(b"leak")
        network = "network open"
    except OSError:
        network = "network blocked"
    count = len(found)
    raise RuntimeError(f"{{network}}; found {{count}} hidden test files or lines {{found[:3]}}")
"""


LOOP_IN_BARE_EXCEPT = """
def sinusoidal_positions(num_positions, dim):
    while True:
        try:
            while True:
                pass
        except:  # noqa: E722 - swallows any exception the time limit could raise
            pass
"""

SPLIT_EXITS = """
import sys

import torch

def split_heads(x, num_heads):
    sys.exit(0)

def merge_heads(x):
    batch, heads, time, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, time, heads * head_dim)
"""

ATTENTION_OS_EXIT = """
import os

def scaled_dot_product_attention(q, k, v, mask=None):
    os._exit(3)
"""

MEMORY_HOG = """
import torch

def split_heads(x, num_heads):
    hog = bytearray(12 * 2**30)  # over the sandbox's address-space limit
    return hog

def merge_heads(x):
    batch, heads, time, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, time, heads * head_dim)
"""

FORK_BOMB = """
import os
import time

started = 0
for _ in range(300):
    try:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        started += 1
    except OSError:
        break
"""


def slow_positions(seconds: float) -> str:
    return f"""
import math
import time

import torch

def sinusoidal_positions(num_positions, dim):
    time.sleep({seconds})  # legal: under the per-call limit
    pair = torch.arange(dim) // 2
    angles = torch.arange(num_positions).double()[:, None] * 10000.0 ** (
        -(2 * pair).double() / dim
    )
    return torch.where(torch.arange(dim) % 2 == 0, angles.sin(), angles.cos()).float()
"""


FULL_01 = {"q1": 7, "q2": 5, "q3": 4}


def chapter1_cases(tmp: Path, port: int) -> dict[str, tuple[nbformat.NotebookNode, dict[str, int]]]:
    """Submission name -> (notebook, expected points per question)."""
    sol = _solution("01_attention")
    attention = "scaled_dot_product_attention"
    q1_zero = {**FULL_01, "q1": 0}
    return {
        "honest": (sol, FULL_01),
        # The patches sit in the answer cell, where they fooled the unsandboxed grader.
        "patch_torch": (_replace(sol, attention, ZERO_ATTENTION + PATCH_TORCH), q1_zero),
        "patch_checks": (_replace(sol, attention, ZERO_ATTENTION + PATCH_CHECKS), q1_zero),
        "patch_bool": (_replace(sol, attention, ZERO_ATTENTION + PATCH_BOOL), q1_zero),
        "patch_otter": (_replace(sol, attention, ZERO_ATTENTION + PATCH_OTTER), q1_zero),
        "torch_function": (_replace(sol, attention, TORCH_FUNCTION_SUBCLASS), q1_zero),
        "stack_inspection": (
            _replace(sol, "split_heads", STACK_INSPECTION),
            {**FULL_01, "q2": 0},
        ),
        "write_files": (_append(sol, write_files(tmp), 'grader.check("q99")'), FULL_01),
        "detached": (_append(sol, detached(tmp)), FULL_01),
        "read_tests": (_replace(sol, attention, read_tests(port)), q1_zero),
        "loop_in_except": (
            _replace(sol, "sinusoidal_positions", LOOP_IN_BARE_EXCEPT),
            {**FULL_01, "q3": 0},
        ),
        # merge_heads is honest and earns its own hidden test.
        "sys_exit": (_replace(sol, "split_heads", SPLIT_EXITS), {**FULL_01, "q2": 1}),
        "os_exit": (_replace(sol, attention, ATTENTION_OS_EXIT), q1_zero),
        "memory_hog": (_replace(sol, "split_heads", MEMORY_HOG), {**FULL_01, "q2": 1}),
        "fork_bomb": (_append(sol, FORK_BOMB), FULL_01),
        "slow_within_limits": (_replace(sol, "sinusoidal_positions", slow_positions(0.1)), FULL_01),
        # 5 calls of 2 s: each under the 3 s call limit, together over the 6 s question limit.
        "slow_over_question_limit": (
            _replace(sol, "sinusoidal_positions", slow_positions(2.0)),
            {**FULL_01, "q3": 0},
        ),
    }


def _hidden_test_text(chapter: str) -> list[str]:
    """Code lines and names of the chapter's hidden tests that no public test shares."""
    hidden, public = set(), set()
    for path in load_tests(chapter).values():
        lines = path.read_text().splitlines()
        for node in ast.parse("\n".join(lines)).body:
            if not isinstance(node, ast.FunctionDef):
                continue
            call = node.decorator_list[0]
            is_hidden = next(k.value.value for k in call.keywords if k.arg == "hidden")
            body = {ln.strip() for ln in lines[node.lineno : node.end_lineno]}
            target = hidden if is_hidden else public
            target.update({node.name} | {ln for ln in body if len(ln) >= 25})
    return sorted(hidden - public)


def _sandbox_processes() -> list[int]:
    base = int(os.environ.get("COURSE_SANDBOX_UID_BASE", "1900000"))
    found = []
    for entry in os.listdir("/proc"):
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            continue
        uid = int(re.search(r"^Uid:\s+(\d+)", status, flags=re.MULTILINE).group(1))
        if uid >= base or MARKER in cmdline:
            found.append(int(entry))
    return found


def _grade(chapter: str, cases, tmp_path: Path) -> tuple[dict[str, dict[str, str]], Path]:
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    for name, (nb, _) in cases.items():
        nbformat.write(nb, submissions / f"{name}.ipynb")
    out = tmp_path / "grades.csv"
    rows = exercises.grade(chapter, submissions, out, timeout=TIMEOUT, jobs=2, limits=LIMITS)
    return {row["submission"].removesuffix(".ipynb"): row for row in rows}, out


def test_chapter1_cheats_gain_nothing_and_honest_answers_keep_their_points(tmp_path):
    server = socket.create_server(("127.0.0.1", 0))  # a grader-side service to leak to
    server.setblocking(False)
    cases = chapter1_cases(tmp_path, server.getsockname()[1])
    before = set(tmp_path.rglob("*"))
    started = time.monotonic()
    rows, out = _grade("01_attention", cases, tmp_path)
    elapsed = time.monotonic() - started
    print(f"graded {len(cases)} adversarial submissions in {elapsed:.1f} s")

    # Every process a submission started is gone once `grade` returns.
    assert _sandbox_processes() == []
    csv_text = out.read_text()
    time.sleep(2.0)  # the detached writers would have struck after 1.4 s
    assert out.read_text() == csv_text
    assert _sandbox_processes() == []

    wrong = {
        name: (rows[name], expected)
        for name, (_, expected) in cases.items()
        if {q: int(rows[name][q]) for q in expected} != expected or rows[name]["error"]
    }
    assert wrong == {}
    for name, (_, expected) in cases.items():
        assert rows[name]["total"] == str(sum(expected.values())), name
    with out.open(newline="") as f:
        assert next(csv.reader(f)) == ["submission", "q1", "q2", "q3", "total", "error"]

    # Nothing the submissions wrote landed outside their sandbox.
    submitted = {tmp_path / "submissions"} | {
        tmp_path / "submissions" / f"{name}.ipynb" for name in cases
    }
    written = set(tmp_path.rglob("*")) - before - submitted
    feedback_dir = tmp_path / "grades-feedback"
    assert {p for p in written if p != out and feedback_dir not in (p, *p.parents)} == set()
    assert not list((tmp_path / "submissions").glob("*.py"))
    assert not (ROOT / "tests" / "q99.py").exists()
    assert not (ROOT / "exercises" / "source" / "q1.py").exists()

    feedback = {p.stem: p.read_text() for p in feedback_dir.glob("*.txt")}
    assert set(feedback) == set(cases)
    leaked = [
        (name, line)
        for name, text in feedback.items()
        for line in _hidden_test_text("01_attention")
        if line in text
    ]
    assert leaked == []
    assert "network blocked; found 0 hidden test files or lines []" in feedback["read_tests"]
    with pytest.raises(BlockingIOError):
        server.accept()  # nobody connected
    server.close()
    assert "did not finish within 3 s (endless loop?)" in feedback["loop_in_except"]
    assert "called sys.exit()" in feedback["sys_exit"]
    assert "ended the grading process" in feedback["os_exit"]
    assert "MemoryError" in feedback["memory_hog"]
    assert "time limit of 6 s" in feedback["slow_over_question_limit"]
    for text in feedback.values():  # student exception text: one line each
        for line in text.splitlines():
            assert len(line) < 800


LYING_PACKER = '''
class AlwaysEqual(list):
    """A list that says it equals anything."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

def pack_full_sentences(sentences, block_size, cls_id, sep_id, pad_id):
    return AlwaysEqual([AlwaysEqual([cls_id, sep_id])])
'''


def test_chapter3_list_with_eq_always_true_scores_zero(tmp_path):
    sol = _solution("03_roberta")
    full = {"q1": 5, "q2": 4, "q3": 3}
    cases = {
        "honest": (sol, full),
        "lying_list": (_replace(sol, "pack_full_sentences", LYING_PACKER), {**full, "q3": 0}),
    }
    rows, _ = _grade("03_roberta", cases, tmp_path)
    for name, (_, expected) in cases.items():
        assert {q: int(rows[name][q]) for q in expected} == expected, (name, rows[name])
    assert _sandbox_processes() == []


def test_grade_refuses_without_a_sandbox_and_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(exercises, "unavailable_reason", lambda: "no namespaces on this system")
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    nbformat.write(_solution("01_attention"), submissions / "a.ipynb")
    out = tmp_path / "grades.csv"
    args = ["grade", "--chapter", "01_attention", str(submissions), "--out", str(out)]
    assert exercises.main(args) == 2
    err = capsys.readouterr().err
    assert "refusing to grade for credit" in err and "no namespaces on this system" in err
    assert "Linux" in err and "container" in err
    assert not out.exists()


def test_probe_reports_non_root_and_other_systems(monkeypatch):
    monkeypatch.setattr(sandbox, "_PROBE", False)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "root" in sandbox.unavailable_reason()
    monkeypatch.setattr(sandbox, "_PROBE", False)
    monkeypatch.setattr(sandbox.sys, "platform", "darwin")
    assert "Linux" in sandbox.unavailable_reason()


def test_submission_limit_must_exceed_the_question_limits(capsys, tmp_path):
    args = ["grade", "--chapter", "01_attention", str(tmp_path), "--out", str(tmp_path / "g.csv")]
    assert exercises.main([*args, "--timeout", "200"]) == 2  # 120 + 3 x 60 = 300 needed
    assert "must be above" in capsys.readouterr().err
