"""The course datasets, with the same columns, dtypes and splits from the Hub or an offline copy.

Online, `load_course_dataset` calls `datasets.load_dataset` with the id, config and revision pinned
in `config.DATASETS`. With env COURSE_DATA_DIR set (e.g. to ../shared/data) it builds the same
splits from local files instead. Offline, the WikiText-2 train split is only a prefix (565 of the
600 articles, 88% of the lines); validation and test are complete. rt-polarity has no official
split: the Hub copy's 8,530 / 1,066 / 1,066 split is not in the original files, so offline the
course draws a split of the same sizes with a fixed seed (same sizes, not the same rows).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from course_utils.config import DATASETS, HubDataset
from course_utils.errors import CourseError
from course_utils.hub import hub_reachable, offline_mode

# `import datasets` takes ~2 s and doctor() only needs data_dir(): import it where it is used
if TYPE_CHECKING:
    import datasets

SPLITS = ("train", "validation", "test")
SST2_LABELS = ["negative", "positive"]
RT_POLARITY_LABELS = ["neg", "pos"]  # the Hub copy's ClassLabel names
RT_POLARITY_SPLIT = (8530, 1066, 1066)  # the Hub copy's train / validation / test sizes
RT_POLARITY_SEED = 0
WIKITEXT2_TRAIN_LINES = 36_718  # lines of the official wiki.train.tokens = rows on the Hub
_FILES = {
    "wikitext-2": ("wiki.train.prefix.tokens", "wiki.valid.tokens", "wiki.test.tokens"),
    "sst2": ("train.tsv", "dev.tsv", "test.tsv"),
    "stsb": ("sts-train.csv", "sts-dev.csv", "sts-test.csv"),
    "rt-polarity": ("rt-polarity.neg", "rt-polarity.pos", ""),  # one pool, split by seed
}


def _features(name: str) -> datasets.Features:
    """The columns and dtypes that both sources return."""
    from datasets import ClassLabel, Features, Value

    if name == "wikitext-2":
        return Features({"text": Value("string")})
    if name == "sst2":
        label = ClassLabel(names=SST2_LABELS)
        return Features({"sentence": Value("string"), "label": label, "idx": Value("int32")})
    if name == "rt-polarity":
        return Features({"text": Value("string"), "label": ClassLabel(names=RT_POLARITY_LABELS)})
    # the Hub copy also has genre/year/... columns: the course needs only these three
    text = Value("string")
    return Features({"sentence1": text, "sentence2": text, "score": Value("float32")})


def data_dir() -> Path | None:
    """Env COURSE_DATA_DIR as a Path (it must exist), or None to use the Hub."""
    value = os.environ.get("COURSE_DATA_DIR")
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise CourseError(
            f"COURSE_DATA_DIR={value} is not a folder.",
            fix="point it at the offline data (e.g. ../shared/data, with wikitext-2/ and "
            "glue-sst2/ inside) or unset it to use the Hub",
        )
    return path


def _read_wikitext(file: Path, split: str) -> dict[str, list[Any]]:
    with open(file, encoding="utf-8") as f:
        # The Hub's rule: keep each line with its "\n"; whitespace-only lines become ""
        return {"text": [line if line.strip() else "" for line in f]}


def _read_sst2(file: Path, split: str) -> dict[str, list[Any]]:
    with open(file, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))  # raw '"' in text
    # As GLUE: idx is the row number, and the unlabelled test split has label -1
    return {
        "sentence": [row["sentence"] for row in rows],
        "label": [-1 if split == "test" else int(row["label"]) for row in rows],
        "idx": list(range(len(rows))),
    }


def _read_stsb(file: Path, split: str) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {"sentence1": [], "sentence2": [], "score": []}
    with open(file, encoding="utf-8", newline="") as f:
        for line in f:
            # genre, filename, year, id, score, sentence1, sentence2 [, attributions on some rows]
            fields = line.rstrip("\n").split("\t")
            columns["score"].append(float(fields[4]))
            columns["sentence1"].append(fields[5])
            columns["sentence2"].append(fields[6])
    return columns


def _read_rt_polarity(folder: Path, split: str) -> dict[str, list[Any]]:
    """Split `split` of a seeded shuffle of all 10,662 snippets (there is no official split)."""
    import random

    rows: list[tuple[str, int]] = []
    for label, file in enumerate(_FILES["rt-polarity"][:2]):
        # The original files are Windows-1252, not UTF-8 (SOURCE.md); one snippet per line
        with open(folder / file, encoding="cp1252", newline="") as f:
            rows += [(line.rstrip("\n").strip(), label) for line in f if line.strip()]
    random.Random(RT_POLARITY_SEED).shuffle(rows)
    n_train, n_valid, _ = RT_POLARITY_SPLIT
    bounds = {
        "train": (0, n_train),
        "validation": (n_train, n_train + n_valid),
        "test": (n_train + n_valid, len(rows)),
    }
    first, last = bounds[split]
    return {"text": [t for t, _ in rows[first:last]], "label": [y for _, y in rows[first:last]]}


_READERS: dict[str, Callable[[Path, str], dict[str, list[Any]]]] = {
    "wikitext-2": _read_wikitext,
    "sst2": _read_sst2,
    "stsb": _read_stsb,
    "rt-polarity": _read_rt_polarity,
}


def _load_offline(name: str, spec: HubDataset, root: Path, splits: list[str]) -> Any:
    from datasets import Dataset, DatasetDict

    folder = root / spec.offline_dir
    if not folder.is_dir():
        raise CourseError(
            f"{name}: COURSE_DATA_DIR={root} has no {spec.offline_dir}/ folder.",
            fix=f"point COURSE_DATA_DIR at the folder holding {spec.offline_dir}/ (../shared/data)",
        )
    files = dict(zip(SPLITS, _FILES[name], strict=True))
    features = _features(name)

    def where(split: str) -> Path:  # rt-polarity reads its whole folder for every split
        return folder if name == "rt-polarity" else folder / files[split]

    # from_dict keeps the rows in memory: nothing is written to the datasets cache
    ds = DatasetDict({s: Dataset.from_dict(_READERS[name](where(s), s), features) for s in splits})
    note = ""
    if name == "wikitext-2" and "train" in ds:
        note = f" (train: the first {len(ds['train']) / WIKITEXT2_TRAIN_LINES:.0%} of the lines)"
    if name == "rt-polarity":
        note = (  # on its own line: output cells on the website are 88 characters wide
            f"\n  no official split: a seeded {'/'.join(map(str, RT_POLARITY_SPLIT))} split"
            " (the Hub's sizes, not its rows)"
        )
    print(f"{name}: offline copy from COURSE_DATA_DIR{note}")  # no machine path in outputs
    return ds


def _load_hub(name: str, spec: HubDataset, split: str | None) -> Any:
    import datasets

    if offline_mode() or not hub_reachable():
        why = (
            "HF_HUB_OFFLINE=1 is set" if offline_mode() else "the Hugging Face Hub is not reachable"
        )
        raise CourseError(
            f"Cannot load {name} from the Hub ({spec.repo_id}): {why}, COURSE_DATA_DIR is unset.",
            fix="set COURSE_DATA_DIR to the folder with the offline copies, e.g. ../shared/data",
        )
    config = f" (config {spec.config})" if spec.config else ""
    print(f"{name}: from the Hub: {spec.repo_id}@{spec.revision[:8]}{config}")
    try:
        ds = datasets.load_dataset(spec.repo_id, spec.config, revision=spec.revision, split=split)
    except OSError as err:  # network failures, DatasetNotFoundError, missing files
        raise CourseError(
            f"Could not load {name} from the Hub ({spec.repo_id}@{spec.revision[:8]}): {err}",
            fix="check the connection and retry, or set COURSE_DATA_DIR=../shared/data",
        ) from err
    features = _features(name)
    return ds.select_columns(list(features)).cast(features)


def load_course_dataset(
    name: str, split: str | None = None
) -> datasets.DatasetDict | datasets.Dataset:
    """Load course dataset `name` (a key of config.DATASETS): all splits, or only `split`.

    Splits train, validation, test. Columns:
    - wikitext-2: `text`, one line each with its trailing "\\n" (blank lines are "").
    - sst2: `sentence`, `label` (ClassLabel negative/positive; -1 on the unlabelled test split),
      `idx` (int32).
    - stsb: `sentence1`, `sentence2`, `score` (float32, 0-5).
    - rt-polarity: `text` (lower-cased, tokenized snippets), `label` (ClassLabel neg/pos); the
      offline split is drawn with a fixed seed (the original release has none).
    With COURSE_DATA_DIR set the data comes from local files, where the wikitext-2 train split is
    only a prefix (88% of the lines) of the official one; otherwise from the Hub at the pinned
    revision.
    """
    if name not in DATASETS:
        raise CourseError(f"Unknown dataset {name!r}.", fix=f"use one of {', '.join(DATASETS)}")
    if split is not None and split not in SPLITS:
        raise CourseError(
            f"Unknown split {split!r} for {name}.", fix=f"use one of {', '.join(SPLITS)}, or None"
        )
    spec = DATASETS[name]
    root = data_dir()
    if root is None:
        return _load_hub(name, spec, split)
    ds = _load_offline(name, spec, root, [split] if split else list(SPLITS))
    return ds[split] if split else ds
