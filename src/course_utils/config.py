"""The course's single source of truth: repository, pins, Hub revisions, dataset ids.

Everything that names a version, a Hub revision, a dataset id or the repository URL lives here.
Tests check that pyproject.toml, environment.yml, the Colab badges and the install cells agree
with this module.
"""

from __future__ import annotations

from dataclasses import dataclass

#: GitHub repository and ref that Colab badges and the Colab install cell point at.
GITHUB_REPO = "encoder-course/transformer-encoders"
GITHUB_REF = "main"

#: Python packages the course needs, with the version ranges the course is tested against.
#: pyproject.toml and environment.yml must list exactly these (tests/test_packaging.py).
PINS: dict[str, str] = {
    "torch": ">=2.6,<3",
    "transformers": ">=5.0,<6",
    "tokenizers": ">=0.22,<1",
    "datasets": ">=4.0,<6",
    "evaluate": ">=0.4.5,<0.5",
    "huggingface-hub": ">=1.0,<3",
    "numpy": ">=1.26,<3",
    "pandas": ">=2.1,<4",
    "matplotlib": ">=3.8,<4",
    "scikit-learn": ">=1.4,<2",
    "ipywidgets": ">=8.1,<9",
    "otter-grader": ">=6.1,<8",
    "sentence-transformers": ">=6.0,<7",
    "accelerate": ">=1.1,<2",  # transformers.Trainer needs it (course_utils.downstream)
}

#: Development-only tools (the `dev` extra and environment.yml).
DEV_PINS: dict[str, str] = {
    "jupyter-book": ">=2.0,<3",
    "nbval": ">=0.11,<0.12",
    "pytest": ">=8,<10",
    "ipykernel": ">=6.29,<8",
    "nbformat": ">=5.10,<6",
    "ruff": ">=0.6",
    "pre-commit": ">=3.7",
    "nbstripout": ">=0.7",
}

PYTHON_REQUIRES = ">=3.11"


@dataclass(frozen=True)
class HubModel:
    """A model on the Hugging Face Hub, pinned to one commit."""

    repo_id: str
    revision: str
    note: str = ""


#: Hub checkpoints used by the course, each pinned to a commit of its repository.
HUB_MODELS: dict[str, HubModel] = {
    "bert-base-uncased": HubModel(
        "google-bert/bert-base-uncased", "86b5e0934494bd15c9632b12f734a8a67f723594"
    ),
    "roberta-base": HubModel("FacebookAI/roberta-base", "e2da8e2f811d1448a5b465c236feacd80ffbac7b"),
    "all-MiniLM-L6-v2": HubModel(
        "sentence-transformers/all-MiniLM-L6-v2",
        "1110a243fdf4706b3f48f1d95db1a4f5529b4d41",
        note="sentence embeddings; available offline in ../shared/hf-hub",
    ),
    "electra-small-discriminator": HubModel(
        "google/electra-small-discriminator", "fa8239aadc095e9164941d05878b98afe9b953c3"
    ),
    "electra-small-generator": HubModel(
        "google/electra-small-generator", "main", note="revision not yet pinned: verify online"
    ),
    "albert-base-v2": HubModel("albert/albert-base-v2", "8e2f239c5f8a2c0f253781ca60135db913e5c80c"),
}


@dataclass(frozen=True)
class HubDataset:
    """A parquet-backed dataset on the Hub and the folder holding its offline copy."""

    repo_id: str
    config: str | None
    revision: str
    offline_dir: str  # folder name under COURSE_DATA_DIR


#: Datasets used by the course: Hub id + config + pinned revision, and the offline folder.
DATASETS: dict[str, HubDataset] = {
    "wikitext-2": HubDataset(
        "Salesforce/wikitext",
        "wikitext-2-v1",
        "b08601e04326c79dfdd32d625aee71d232d685c3",
        "wikitext-2",
    ),
    "sst2": HubDataset(
        "nyu-mll/glue", "sst2", "bcdcba79d07bc864c1c254ccfcedcce55bcc9a8c", "glue-sst2"
    ),
    # mteb's copy keeps the 0-5 scores (sentence-transformers/stsb rescales them to 0-1)
    "stsb": HubDataset(
        "mteb/stsbenchmark-sts", None, "b0fddb56ed78048fa8b90373c8a3cfc37b684831", "stsbenchmark"
    ),
    # MR / sentence polarity v1.0 (Pang & Lee 2005). Revision not yet pinned (no Hub access when
    # it was added): verify online and replace "main" by the commit hash.
    "rt-polarity": HubDataset(
        "cornell-movie-review-data/rotten_tomatoes", None, "main", "rt-polarity"
    ),
}
