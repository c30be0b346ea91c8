import urllib.error
import urllib.request
from pathlib import Path

import pytest
from huggingface_hub.errors import LocalEntryNotFoundError

from course_utils import hub
from course_utils.config import HUB_MODELS
from course_utils.errors import CourseError

MINILM = HUB_MODELS["all-MiniLM-L6-v2"]
BERT = HUB_MODELS["bert-base-uncased"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("HF_HUB_OFFLINE", "HF_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def no_network(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("a test tried to reach the network")

    monkeypatch.setattr(urllib.request, "urlopen", fail)


class FakeLoader:
    """Stands in for AutoModel: records from_pretrained calls."""

    calls: list = []

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        cls.calls.append((args, kwargs))
        return "loaded"


@pytest.fixture
def loader():
    FakeLoader.calls = []
    return FakeLoader


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("TRUE", True), ("yes", True), ("0", False), ("", False)]
)
def test_offline_mode(monkeypatch, value, expected):
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert hub.offline_mode() is expected


def test_hub_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub.hub_cache_dir() == tmp_path / "xdg" / "huggingface" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert hub.hub_cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    assert hub.hub_cache_dir() == tmp_path / "cache"


def test_unreachable_in_offline_mode_without_network(monkeypatch, no_network):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub.hub_reachable() is False


class _Response:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _http_error(code):
    return urllib.error.HTTPError("https://huggingface.co", code, "status", {}, None)


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (_Response(), True),
        (_http_error(401), True),  # the Hub answered
        (_http_error(503), False),  # the Hub is down
        (urllib.error.URLError("no route"), False),
        (TimeoutError(), False),
    ],
)
def test_hub_reachable(monkeypatch, outcome, expected):
    seen = {}

    def fake_urlopen(request, timeout):
        seen.update(method=request.get_method(), url=request.full_url, timeout=timeout)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    assert hub.hub_reachable(timeout=0.5) is expected
    assert seen == {"method": "HEAD", "url": hub.constants.ENDPOINT, "timeout": 0.5}


def test_hub_reachable_real_refused_connection(monkeypatch):
    monkeypatch.setattr(hub.constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    assert hub.hub_reachable(timeout=1.0) is False


def test_unknown_model_lists_keys():
    with pytest.raises(CourseError) as info:
        hub.resolve_model("bert-large")
    assert "'bert-large'" in str(info.value)
    assert all(key in info.value.fix for key in HUB_MODELS)


def test_online_uses_hub(monkeypatch, loader, tmp_path, capsys):
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=2.0: True)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    resolved = hub.resolve_model("bert-base-uncased")
    assert (resolved.source, resolved.repo_id, resolved.revision, resolved.path) == (
        "hub",
        BERT.repo_id,
        BERT.revision,
        None,
    )
    assert hub.load_pretrained(loader, "bert-base-uncased", num_labels=2) == "loaded"
    assert loader.calls == [
        ((BERT.repo_id,), {"revision": BERT.revision, "num_labels": 2, "cache_dir": str(tmp_path)})
    ]
    out = capsys.readouterr().out
    assert f"{BERT.repo_id}@{BERT.revision[:8]}\n  from the Hugging Face Hub" in out
    assert max(len(line) for line in out.splitlines()) <= 88  # the site's width


def test_offline_cache_resolves_snapshot(monkeypatch, shared_hub_cache, no_network):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(shared_hub_cache))
    resolved = hub.resolve_model("all-MiniLM-L6-v2", fallback="/does/not/matter")
    assert resolved.source == "cache"
    assert (
        resolved.path
        == shared_hub_cache
        / "models--sentence-transformers--all-MiniLM-L6-v2"
        / "snapshots"
        / MINILM.revision
    )
    assert "local Hub cache" in resolved.describe() and "NOT" not in resolved.describe()
    assert str(shared_hub_cache) not in resolved.describe()  # the site shows no machine path


def test_cache_source_forbids_downloads(monkeypatch, shared_hub_cache, loader, no_network):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(shared_hub_cache))
    hub.load_pretrained(loader, "all-MiniLM-L6-v2")
    ((args, kwargs),) = loader.calls
    assert args == (MINILM.repo_id,)
    assert kwargs == {
        "revision": MINILM.revision,
        "cache_dir": str(shared_hub_cache),
        "local_files_only": True,
    }


def test_real_offline_load_from_shared_cache(monkeypatch, shared_hub_cache, no_network, capsys):
    import transformers

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(shared_hub_cache))
    model = hub.load_pretrained(transformers.AutoModel, "all-MiniLM-L6-v2")
    tokenizer = hub.load_pretrained(transformers.AutoTokenizer, "all-MiniLM-L6-v2")
    assert type(model).__name__ == "BertModel"
    assert (model.config.num_hidden_layers, model.config.hidden_size) == (6, 384)
    assert tokenizer("hello world")["input_ids"][0] == tokenizer.cls_token_id
    assert "from the local Hub cache" in capsys.readouterr().out


def test_unreachable_without_cache_explains_options(monkeypatch, tmp_path, no_network):
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=2.0: False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(CourseError) as info:
        hub.resolve_model("bert-base-uncased")
    message, fix = str(info.value), info.value.fix
    assert "not reachable" in message
    assert "internet" in fix and "HF_HUB_CACHE" in fix and "fallback" in fix
    assert f"{BERT.repo_id}@{BERT.revision}" in fix


def test_offline_without_cache_says_offline(monkeypatch, tmp_path, no_network):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(CourseError, match="HF_HUB_OFFLINE=1"):
        hub.resolve_model("roberta-base")


def test_missing_fallback_is_named(monkeypatch, tmp_path, no_network):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(CourseError, match="does not exist"):
        hub.resolve_model("bert-base-uncased", fallback=tmp_path / "no-checkpoint")


def test_course_checkpoint_fallback(monkeypatch, tmp_path, loader, capsys, no_network):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    checkpoint = tmp_path / "small-bert"
    checkpoint.mkdir()
    resolved = hub.resolve_model("bert-base-uncased", fallback=str(checkpoint))
    assert (resolved.source, resolved.path) == ("course-checkpoint", checkpoint)
    hub.load_pretrained(loader, "bert-base-uncased", fallback=checkpoint)
    assert loader.calls == [((checkpoint,), {})]
    out = capsys.readouterr().out
    assert f"a small model trained by this course,\n  NOT {BERT.repo_id}" in out
    assert max(len(line) for line in out.splitlines()) <= 88
    assert "small-bert" in out and str(tmp_path) not in out


@pytest.mark.parametrize(
    "error", [OSError("disk full"), LocalEntryNotFoundError("config.json missing")]
)
def test_load_errors_become_course_errors(monkeypatch, tmp_path, error):
    class Broken:
        @classmethod
        def from_pretrained(cls, *args, **kwargs):
            raise error

    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=2.0: True)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(CourseError) as info:
        hub.load_pretrained(Broken, "roberta-base")
    assert type(error).__name__ in str(info.value) and "HF_HUB_CACHE" in info.value.fix
    assert info.value.__cause__ is error


def test_broken_checkpoint_fix_points_at_folder(monkeypatch, tmp_path):
    class Broken:
        @classmethod
        def from_pretrained(cls, *args, **kwargs):
            raise OSError("no config.json")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(CourseError) as info:
        hub.load_pretrained(Broken, "bert-base-uncased", fallback=tmp_path)
    assert str(Path(tmp_path)) in info.value.fix and "save_pretrained" in info.value.fix
