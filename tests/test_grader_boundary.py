"""The grader's plain-data boundary: every mutant is still caught when its results cross it.

The sandboxed grader runs the tests in its own process and gets only plain data back from the
learner's functions (course_utils.sandbox_codec). Here each mutant of chapters 1-3 runs behind
that boundary in process (`loopback_env`, no jail), so the test shows that the restructured
calls lose no check; test_grader_sandbox.py runs the real jail end to end.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from exercise_fixtures.submissions import load_tests, loopback_env, notebook_namespace, run_question
from test_exercises_02_03 import MUTANTS as MUTANTS_02_03
from test_exercises_02_03 import QUESTION_OF as QUESTION_OF_02_03
from test_grading import MUTANTS as MUTANTS_01
from test_grading import QUESTION_OF as QUESTION_OF_01

from course_utils import exercises
from course_utils import sandbox_codec as codec

ALL_MUTANTS = {
    **{f"01_attention: {k}": ("01_attention", *v) for k, v in MUTANTS_01.items()},
    **{f"{v[0]}: {k}": v for k, v in MUTANTS_02_03.items()},
}
QUESTION_OF = {"01_attention": QUESTION_OF_01, **QUESTION_OF_02_03}
CHAPTERS = ("01_attention", "02_bert", "03_roberta")


@pytest.fixture(scope="module")
def solution_envs():
    return {
        chapter: notebook_namespace(
            exercises.REPO_ROOT / exercises.SOLUTION_DIR / f"{chapter}.ipynb"
        )
        for chapter in CHAPTERS
    }


def test_there_are_60_mutants():
    assert len(MUTANTS_01) >= 17 and len(MUTANTS_02_03) >= 43


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solutions_pass_every_test_across_the_boundary(chapter, solution_envs):
    env = loopback_env(solution_envs[chapter])
    for path in load_tests(chapter).values():
        test = run_question(path, env)
        assert test.passed_all, test.summary()


@pytest.mark.parametrize("mutant", list(ALL_MUTANTS))
def test_hidden_tests_catch_every_mutant_across_the_boundary(mutant, solution_envs):
    chapter, name, function = ALL_MUTANTS[mutant]
    question = QUESTION_OF[chapter][name]
    env = loopback_env({**solution_envs[chapter], name: function})
    test = run_question(load_tests(chapter)[question], env)
    hidden_failed = [r for r in test.test_case_results if r.test_case.hidden and not r.passed]
    assert hidden_failed, f"{mutant} passed every hidden test across the boundary"
    assert test.score < test.possible


# --------------------------------------------------------------------------------------------
# The codec: plain data only


def _round_trip(value):
    node, tensors = codec.encode(value)
    data = codec.pack({"v": node}, tensors)
    size = codec._HEADER.size
    body_size, _ = codec._HEADER.unpack(data[:size])
    header, out = codec.unpack(data[size : size + body_size], data[size + body_size :])
    return codec.decode(header["v"], out)


def test_codec_round_trips_plain_values_and_strips_behaviour():
    class Liar(list):
        def __eq__(self, other):
            return True

    class Fake(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            return True

    generator = torch.Generator().manual_seed(3)
    value = {
        "t": torch.arange(6.0).reshape(2, 3),
        "b": torch.tensor([True, False]),
        "empty": torch.zeros(0, 4, dtype=torch.int64),
        "liar": Liar([1, 2]),
        "fake": torch.zeros(2).as_subclass(Fake),
        "nested": ([1, 2.5, "x", None], {3, 4}, frozenset({"a"})),
        "array": np.arange(3, dtype=np.int32),
        "gen": generator,
        "dtype": torch.float64,
        "object": object(),
    }
    back = _round_trip(value)
    assert torch.equal(back["t"], value["t"]) and back["t"].dtype == torch.float32
    assert torch.equal(back["b"], value["b"]) and back["empty"].shape == (0, 4)
    assert type(back["liar"]) is list and back["liar"] != [9]
    assert type(back["fake"]) is torch.Tensor and torch.equal(back["fake"], torch.zeros(2))
    assert back["nested"] == ([1, 2.5, "x", None], {3, 4}, frozenset({"a"}))
    assert isinstance(back["array"], np.ndarray) and back["array"].tolist() == [0, 1, 2]
    assert torch.equal(torch.rand(3, generator=back["gen"]), torch.rand(3, generator=generator))
    assert back["dtype"] is torch.float64
    assert type(back["object"]).__name__ == "object" and isinstance(back["object"], codec.Opaque)


@pytest.mark.parametrize(
    "node",
    [
        {"pickle": "gASV"},
        {"l": "not a list"},
        {"tensor": "t9"},
        {"dtype": "os.system"},
        {"d": [[{"l": []}, 1]]},  # unhashable key
        [1, 2],  # an untagged list
        {"l": [1], "t": [2]},  # two tags
    ],
)
def test_decoder_rejects_anything_but_its_tags(node):
    with pytest.raises(codec.ProtocolError):
        codec.decode(node, {})


def test_decoder_limits_depth_and_message_size():
    node = 1
    for _ in range(codec.MAX_DEPTH + 5):
        node = {"l": [node]}
    with pytest.raises(codec.ProtocolError):
        codec.decode(node, {})
    with pytest.raises(codec.ProtocolError):
        codec.unpack(b"{not json", b"")
    with pytest.raises(codec.ProtocolError):
        codec.unpack(json.dumps({"v": 1}).encode(), b"garbage safetensors")
    read, write = __import__("os").pipe()
    __import__("os").write(write, codec._HEADER.pack(2**40, 0))
    with pytest.raises(codec.ProtocolError, match="over the limit"):
        codec.read_message(read)
