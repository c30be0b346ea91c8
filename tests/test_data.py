import datasets
import pytest

from course_utils import data
from course_utils.config import DATASETS
from course_utils.errors import CourseError

SPLITS = ["train", "validation", "test"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


@pytest.fixture(scope="module")
def offline(shared_data_dir):
    """All three datasets built once from the offline copies."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_DATA_DIR", str(shared_data_dir))
        return {name: data.load_course_dataset(name) for name in DATASETS}


@pytest.fixture
def hub_only(monkeypatch):
    """No COURSE_DATA_DIR, the Hub 'reachable', and load_dataset replaced by a recorder."""
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.setattr(data, "hub_reachable", lambda timeout=2.0: True)
    calls = []

    def install(result):
        def fake_load_dataset(*args, **kwargs):
            calls.append((args, kwargs))
            return result

        monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
        return calls

    return install


# ---- data_dir -------------------------------------------------------------------------------


def test_data_dir_unset(monkeypatch):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    assert data.data_dir() is None


def test_data_dir_set(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert data.data_dir() == tmp_path


def test_data_dir_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "nope"))
    with pytest.raises(CourseError) as info:
        data.data_dir()
    assert "nope" in str(info.value) and "../shared/data" in info.value.fix


def test_data_dir_without_dataset_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(CourseError, match="no glue-sst2/ folder"):
        data.load_course_dataset("sst2")


def test_unknown_name_and_split(monkeypatch, shared_data_dir):
    monkeypatch.setenv("COURSE_DATA_DIR", str(shared_data_dir))
    with pytest.raises(CourseError) as info:
        data.load_course_dataset("imdb")
    assert "wikitext-2, sst2, stsb" in info.value.fix
    with pytest.raises(CourseError, match="'dev'"):
        data.load_course_dataset("sst2", split="dev")


# ---- offline copies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "rows"),
    [
        ("wikitext-2", [32_348, 3_760, 4_358]),
        ("sst2", [67_349, 872, 1_821]),
        ("stsb", [5_749, 1_500, 1_379]),
    ],
)
def test_offline_splits_and_row_counts(offline, name, rows):
    ds = offline[name]
    assert list(ds) == SPLITS
    assert [len(ds[s]) for s in SPLITS] == rows  # the counts in each SOURCE.md


def test_wikitext_lines_as_on_the_hub(offline):
    ds = offline["wikitext-2"]
    assert ds["train"].features == datasets.Features({"text": datasets.Value("string")})
    train = ds["train"]["text"]
    assert train[:2] == ["", " = Valkyria Chronicles III = \n"]
    for split in SPLITS:
        lines = ds[split]["text"]
        assert all(line == "" or (line.endswith("\n") and line.strip()) for line in lines)
    # published WikiText-2 sizes (tokens + one <eos> per line) prove no line was lost or split
    assert sum(len(line.split()) + 1 for line in ds["validation"]["text"]) == 217_646
    assert sum(len(line.split()) + 1 for line in ds["test"]["text"]) == 245_569


def test_wikitext_prints_prefix_note(monkeypatch, shared_data_dir, capsys):
    monkeypatch.setenv("COURSE_DATA_DIR", str(shared_data_dir))
    validation = data.load_course_dataset("wikitext-2", split="validation")
    assert isinstance(validation, datasets.Dataset) and len(validation) == 3_760
    data.load_course_dataset("wikitext-2", split="train")
    out = capsys.readouterr().out
    assert "wikitext-2: offline copy from COURSE_DATA_DIR" in out
    assert "(train: the first 88% of the lines)" in out
    assert str(shared_data_dir) not in out  # no machine path reaches a notebook's output


def test_sst2_columns_labels_idx(offline):
    ds = offline["sst2"]
    for split in SPLITS:
        features = ds[split].features
        assert list(features) == ["sentence", "label", "idx"]
        assert features["label"] == datasets.ClassLabel(names=["negative", "positive"])
        assert features["idx"] == datasets.Value("int32") and features[
            "sentence"
        ] == datasets.Value("string")
        assert ds[split]["idx"] == list(range(len(ds[split])))
    train, dev = ds["train"]["label"], ds["validation"]["label"]
    assert (train.count(1), train.count(0)) == (37_569, 29_780)
    assert (dev.count(1), dev.count(0)) == (444, 428)
    assert set(ds["test"]["label"]) == {-1}  # hidden GLUE test labels
    assert (
        ds["train"][0]["sentence"] == "hide new secretions from the parental units "
    )  # GLUE keeps the trailing space


def test_stsb_columns_and_scores(offline):
    ds = offline["stsb"]
    means = {"train": 2.70, "validation": 2.36, "test": 2.61}  # from SOURCE.md
    for split in SPLITS:
        features = ds[split].features
        assert list(features) == ["sentence1", "sentence2", "score"]
        assert features["score"] == datasets.Value("float32")
        scores = ds[split]["score"]
        assert min(scores) >= 0.0 and max(scores) <= 5.0
        assert sum(scores) / len(scores) == pytest.approx(means[split], abs=0.005)
        assert not any(
            "\t" in s for s in list(ds[split]["sentence1"]) + list(ds[split]["sentence2"])
        )
    assert any('"' in s for s in ds["train"]["sentence1"])  # raw quotes survive (no CSV quoting)


def test_stsb_rows_with_extra_fields(offline):
    # test row 0008 (answer-answer 2016) carries two attribution columns after sentence2
    row = next(
        r
        for r in offline["stsb"]["test"]
        if r["sentence1"].startswith("I remained under the banyan tree")
    )
    expected = "I remained under the banyan tree, exhausted by my daily ritual of herding the cats"
    assert row["sentence2"] == expected + " every two hours. "
    assert row["score"] == 3.0


# ---- the Hub path (mocked) --------------------------------------------------------------------


def _hub_stsb():
    rows = {
        "split": ["test"],
        "genre": ["main-captions"],
        "dataset": ["MSRvid"],
        "year": ["2012test"],
        "sid": ["0001"],
        "score": [2.5],
        "sentence1": ["A girl is styling her hair."],
        "sentence2": ["A girl is brushing her hair."],
    }
    return datasets.DatasetDict({s: datasets.Dataset.from_dict(rows) for s in SPLITS})


def test_hub_stsb_matches_offline_schema(hub_only, offline, capsys):
    calls = hub_only(_hub_stsb())
    ds = data.load_course_dataset("stsb")
    spec = DATASETS["stsb"]
    assert calls == [((spec.repo_id, None), {"revision": spec.revision, "split": None})]
    assert list(ds) == SPLITS
    for split in SPLITS:
        assert ds[split].features == offline["stsb"][split].features
    assert ds["test"][0] == {
        "sentence1": "A girl is styling her hair.",
        "sentence2": "A girl is brushing her hair.",
        "score": 2.5,
    }
    assert (
        f"stsb: from the Hub: mteb/stsbenchmark-sts@{spec.revision[:8]}" in capsys.readouterr().out
    )


def test_hub_sst2_single_split(hub_only, offline):
    features = datasets.Features(
        {
            "sentence": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["negative", "positive"]),
            "idx": datasets.Value("int32"),
        }
    )
    calls = hub_only(
        datasets.Dataset.from_dict(
            {"sentence": ["fine ."], "label": [1], "idx": [0]}, features=features
        )
    )
    ds = data.load_course_dataset("sst2", split="validation")
    spec = DATASETS["sst2"]
    assert calls == [((spec.repo_id, "sst2"), {"revision": spec.revision, "split": "validation"})]
    assert ds.features == offline["sst2"]["validation"].features


def test_hub_unreachable_points_to_course_data_dir(hub_only, monkeypatch):
    calls = hub_only(None)
    monkeypatch.setattr(data, "hub_reachable", lambda timeout=2.0: False)
    with pytest.raises(CourseError) as info:
        data.load_course_dataset("wikitext-2")
    assert "not reachable" in str(info.value)
    assert "COURSE_DATA_DIR" in info.value.fix and "../shared/data" in info.value.fix
    assert calls == []


def test_offline_mode_without_data_dir(hub_only, monkeypatch):
    hub_only(None)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CourseError, match="HF_HUB_OFFLINE=1"):
        data.load_course_dataset("sst2")


def test_hub_failure_becomes_course_error(hub_only, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("connection reset")

    hub_only(None)
    monkeypatch.setattr(datasets, "load_dataset", broken)
    with pytest.raises(CourseError, match="connection reset") as info:
        data.load_course_dataset("sst2")
    assert "COURSE_DATA_DIR" in info.value.fix
