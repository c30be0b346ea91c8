"""Structure every chapter notebook must have (content is executed by nbval and the book build)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import check_notebooks  # scripts/ is on pytest's pythonpath
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
BIB_KEYS = set(re.findall(r"@\w+\{(\w+),", (ROOT / "book" / "references.bib").read_text()))
BENCHMARK = ROOT / "results" / "benchmark_mlm.json"
BEFORE = ROOT / "results" / "course_bert_small_init0.02_metrics.json"  # chapter 2's first model
SWEEP = ROOT / "results" / "pretraining_sweep.jsonl"
#: BERT-base as its paper trained it (Devlin et al. 2019): 110M parameters, 1M steps of 256
#: sequences, 90% of the steps at 128 tokens and 10% at 512
BERT_BASE_PARAMS = 110e6
BERT_BASE_TOKENS = 1_000_000 * 256 * (0.9 * 128 + 0.1 * 512)


def _markdown(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_structure(path: Path):
    text = _markdown(path)
    titles = re.findall(r"^# .+", text, flags=re.M)
    assert len(titles) == 1, f"{path.name}: exactly one H1 title, found {titles}"
    assert "Misconceptions this chapter corrects" in text, f"{path.name}: no misconceptions box"
    cited = set(re.findall(r"@([A-Za-z0-9_]+)\]", text)) | set(
        re.findall(r"\[@([A-Za-z0-9_]+)", text)
    )
    assert cited, f"{path.name}: cites no paper"
    assert cited <= BIB_KEYS, (
        f"{path.name}: citations missing from references.bib: {cited - BIB_KEYS}"
    )


def test_every_chapter_is_in_the_book():
    toc = (ROOT / "book" / "myst.yml").read_text()
    for path in CHAPTERS:
        assert f"../notebooks/{path.name}" in toc, f"{path.name} is not in book/myst.yml"


def _card(name: str) -> dict:
    from course_utils.checkpoints import checkpoint_dir  # wherever the package keeps them

    return json.loads((checkpoint_dir(name) / "metrics.json").read_text(encoding="utf-8"))


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _quotes(chapter: str) -> list[str]:
    """What a chapter's prose says about its committed checkpoint, built from metrics.json."""
    if chapter == "02_bert":
        card = _card("course-bert-small")
        kinds = card["valid_accuracy_by_target_kind"]
        curve = {row["step"]: row["loss"] for row in card["valid_curve"]}
        seconds = card["train_seconds"]
        quotes = [
            f"right {_pct(kinds['mask token']['accuracy'])} of the time",
            f"against {_pct(card['unigram_baseline']['accuracy'])} for always guessing",
            f"{100 * kinds['unchanged']['accuracy']:.0f}% of the unchanged targets",
            f"gets {100 * kinds['unchanged']['accuracy']:.0f}% of the *unchanged* targets right "
            f"but only about {100 * kinds['mask token']['accuracy']:.0f}% of the `[MASK]`",
            f"{card['steps']:,} steps",
            f"a WordPiece of {card['vocab_size']:,} entries",
            f"took {seconds:,.0f} s ({seconds / 60:.0f} minutes) of training",
            f"trained for {seconds / 60:.0f} minutes",
            f"at step 500 the loss was still {curve[500]:.3f}",
            f"close to the unigram model's {card['unigram_baseline']['loss']:.3f}",
            f"by step 1,000 it had fallen to {curve[1000]:.3f}",
            f"it ended at {card['valid']['loss']:.3f} at step {card['steps']:,}",
            f"({card['initializer_range']} here, `course_utils.mlm.init_range`)",
            f"about {card['n_params'] / 1e6:.1f}M parameters and saw about "
            f"{card['tokens_seen'] / 1e6:.0f}M tokens",
            f"roughly {round(BERT_BASE_PARAMS / card['n_params'], -1):.0f} times the parameters",
            f"about {round(BERT_BASE_TOKENS / card['tokens_seen'], -2):,.0f} times the training",
        ]
        # the first checkpoint (BERT's init 0.02) and the controlled 1,200-step comparison
        before = json.loads(BEFORE.read_text(encoding="utf-8"))
        quotes.append(
            "it was right at "
            f"{_pct(before['valid_accuracy_by_target_kind']['mask token']['accuracy'])} of the"
        )
        sweep = {
            row["label"]: row
            for row in map(json.loads, SWEEP.read_text(encoding="utf-8").splitlines())
        }
        small, large = sweep["d0-lr2e-3-1200"], sweep["d0-lr2e-3-1200-init0.1"]
        assert small["args"]["init"] == 0.02 and large["args"]["init"] == 0.1
        quotes.append(f"started from 0.02, the model was right at {_pct(small['mask_accuracy'])}")
        quotes.append(f"started from 0.1, at {_pct(large['mask_accuracy'])}")
        # the data caveat: the card says whether the train split was a prefix, and how long
        prefix = re.search(r"(\d+)% prefix", card["data"])
        if prefix:
            quotes.append(f"holds an {prefix.group(1)}% prefix of the official training split")
        return quotes
    card = _card("course-roberta-small")
    kinds = card["valid_accuracy_by_target_kind"]
    return [
        f"about {card['n_params'] / 1e6:.1f}M parameters, trained for {card['steps']:,} steps",
        f"perplexity of {card['valid']['perplexity']:.0f}",
        f"against {card['unigram_baseline']['perplexity']:.0f} for a unigram model",
        f"{_pct(kinds['mask token']['accuracy'])} of the `<mask>` targets",
        f"against {_pct(card['unigram_baseline']['accuracy'])} for always guessing",
        f"trained for {card['train_seconds'] / 60:.0f} minutes on WikiText-2",
    ]


@pytest.mark.parametrize("chapter", ["02_bert", "03_roberta"])
def test_chapter_text_quotes_the_committed_checkpoints(chapter: str):
    # the prose quotes the model cards; rebuilding a checkpoint must update the chapter too
    text = re.sub(r"\s+", " ", _markdown(ROOT / "notebooks" / f"{chapter}.ipynb"))
    for quoted in _quotes(chapter):
        assert quoted in text, f"{chapter}.ipynb should say {quoted!r} (checkpoint metrics.json)"


def _benchmark_rows() -> list[tuple[str, list[str]]]:
    """(row label, what that row of chapter 2's benchmark table must say), from the JSON."""
    run = json.loads(BENCHMARK.read_text(encoding="utf-8"))
    labels = {
        "stock: full-vocabulary head": "stock, full-vocabulary head",
        "course: head at targets only": "head at targets",
        "course: last layer + head at targets": "last layer and head at targets",
    }
    rows = []
    for v in run["variants"]:
        cells = [
            f"{v['tokens_per_s']:,.0f}",
            f"{v['speedup']:.1f}x",
            f"{v['mac_ratio']:.1f}x",
            f"{v['activation_mib']:.0f} MiB",
        ]
        if not v["variant"].startswith("stock"):  # the stock row is 1.0x by definition
            lo, hi = min(v["speedup_per_repeat"]), max(v["speedup_per_repeat"])
            cells.append(f"{lo:.1f}x to {hi:.1f}x")
        rows.append((labels[v["variant"]], cells))
    return rows


def test_chapter2_benchmark_table_is_the_committed_run():
    # every number of the table, the summary and the prose around it comes from one JSON file
    run = json.loads(BENCHMARK.read_text(encoding="utf-8"))
    assert run["machine"]["cores"] and run["machine"]["cpu"], "the run must describe its machine"
    text = _markdown(ROOT / "notebooks" / "02_bert.ipynb")
    rows = _benchmark_rows()
    for label, cells in rows:
        lines = [line for line in text.splitlines() if line.startswith(f"| {label} ")]
        assert len(lines) == 1, f"chapter 2 needs one benchmark table row '| {label} |'"
        for cell in cells:
            assert cell in lines[0], f"row {label!r} should say {cell!r} ({BENCHMARK.name})"
    flat = re.sub(r"\s+", " ", text)
    s = run["settings"]
    course = next(v for v in run["variants"] if v["variant"].startswith("course: last layer"))
    stock = next(v for v in run["variants"] if v["variant"].startswith("stock"))
    lo, hi = min(course["speedup_per_repeat"]), max(course["speedup_per_repeat"])
    assert run["largest_loss_difference"] < 1e-6  # the prose: "agree to within $10^{-6}$"
    for quoted in (
        "agree to within $10^{-6}$",
        f"{s['n_params'] / 1e6:.1f}M parameters and a vocabulary of {s['vocab_size']:,}",
        f"each batch is {s['batch_size']} blocks of {s['block']} tokens",
        f"median of {s['repeats']} alternating repeats of {s['timed_steps']} steps, after "
        f"{s['warmup_steps']} warm-up steps",
        f"{run['machine']['cores']}-core",
        f"trained {course['speedup']:.1f} times faster than the stock",
        f"between {lo:.1f}x and {hi:.1f}x over its repeats",
        f"grew by {course['peak_mib']:.0f} MiB with `masked_lm_loss` against "
        f"{stock['peak_mib']:.0f} MiB with the stock loss",
    ):
        assert quoted in flat, f"chapter 2 should say {quoted!r} ({BENCHMARK.name})"
    # no speed-up in the prose that the committed run does not contain
    stated = set(re.findall(r"(\d+\.\d)x", flat)) | set(re.findall(r"(\d+\.\d) times", flat))
    allowed = {c[:-1] for _, cells in rows for c in cells if c.endswith("x")}
    allowed |= {f"{x:.1f}" for v in run["variants"] for x in v["speedup_per_repeat"]}
    assert stated <= allowed, f"speed-ups in chapter 2 not in {BENCHMARK.name}: {stated - allowed}"


@pytest.mark.parametrize("chapter", [p.stem for p in CHAPTERS])
def test_chapter_ends_with_questions_whose_answers_open_on_demand(chapter: str):
    nb = nbformat.read(ROOT / "notebooks" / f"{chapter}.ipynb", as_version=4)
    title = "## Check your understanding"
    heads = [i for i, c in enumerate(nb.cells) if c.source.startswith(title)]
    assert len(heads) == 1, f"{chapter}: one 'Check your understanding' section"
    cells = nb.cells[heads[0] :]
    answers = [c for c in cells if c.source.startswith("<details>")]
    questions = [c for c in cells if re.match(r"\*\*\d\.\*\* ", c.source)]
    assert 3 <= len(answers) <= 5, f"{chapter}: 3-5 questions with answers, got {len(answers)}"
    assert len(questions) == len(answers), f"{chapter}: one answer per question"
    for cell in answers:
        # collapsed until opened, in Jupyter and on the site alike (as chapter 1)
        assert cell.cell_type == "markdown", cell.id
        assert cell.source.startswith("<details>\n<summary>Answer</summary>\n"), cell.id
        assert cell.source.rstrip().endswith("</details>"), cell.id


@pytest.mark.parametrize("chapter", [p.stem for p in CHAPTERS])
def test_chapter_renders_on_the_site(chapter: str):
    # what the website cuts or shows twice: long code lines, plain-text tables, two bibliographies
    nb = nbformat.read(ROOT / "notebooks" / f"{chapter}.ipynb", as_version=4)
    long = check_notebooks.long_lines(chapter, nb)  # the rule `make test` applies, cells shown
    assert not long, f"{chapter}: code lines over {check_notebooks.WIDTH} characters: {long}"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert "to_string(" not in cell.source, f"{chapter} cell {cell.id}: use display(df)"
    text = _markdown(ROOT / "notebooks" / f"{chapter}.ipynb")
    assert not re.search(r"^#+ References", text, flags=re.M), (
        f"{chapter}: the book adds the reference list; no hand-written one"
    )
    assert not re.search(r"\(Section [\d.]+ of \[@", text), f"{chapter}: nested citation"
    assert not re.search(r"\ba (8\d|11|18)%", text), f"{chapter}: 'an 88%', not 'a 88%'"


def test_chapter2_attention_prose_quotes_its_snapshot():
    # the head table of course-bert-small is a checked (snapshot) output; the prose quotes it
    snapshot = json.loads((ROOT / "tests" / "snapshots" / "notebooks" / "02_bert.json").read_text())
    table = snapshot["cell-34d"][0]["data"]["text/plain"].splitlines()
    rows = {line[:15].strip(): line[15:].split() for line in table[1:]}
    previous, following = float(rows["layer 0, head 1"][2]), float(rows["layer 0, head 0"][3])
    text = re.sub(r"\s+", " ", _markdown(ROOT / "notebooks" / "02_bert.ipynb"))
    assert f"head 0 sends {following:.2f} of its attention, on average, to the *next*" in text
    assert f"head 1 sends {previous:.2f} to the *previous* token" in text


ELECTRA_RESULTS = ROOT / "results" / "electra_equal_compute.json"


def _electra_quotes() -> list[str]:
    """What chapter 4's prose says about the committed equal-compute experiment."""
    from statistics import mean

    r = json.loads(ELECTRA_RESULTS.read_text(encoding="utf-8"))
    eq = r["equal_compute"]
    main = [x for x in r["runs"] if x["generator"] in (None, "1/4")]

    def of(objective: str, key) -> float:
        return mean(key(x) for x in main if x["objective"] == objective)

    def valid(objective: str, name: str) -> float:
        return of(objective, lambda x: x["valid"][name])

    def sst2(objective: str) -> float:
        return of(objective, lambda x: x["sst2"]["accuracy"])

    random_init = mean(x["accuracy"] for x in r["random_init"])
    quotes = [
        f"{eq['electra_steps']:,} ELECTRA steps",
        f"{eq['mlm_steps']:,} MLM steps",
        f"{_pct(valid('electra', 'replaced_fraction'))} of all tokens",
        f"ROC-AUC of {valid('electra', 'disc_auc'):.2f}",
        f"right for {_pct(valid('electra', 'generator_accuracy'))}",
        f"accuracy of {_pct(valid('mlm', 'accuracy'))}",
        f"ELECTRA {_pct(sst2('electra'))}",
        f"MLM {_pct(sst2('mlm'))}",
        f"random initialisation {_pct(random_init)}",
        f"majority class {_pct(r['majority']['accuracy'])}",
        f"about {r['total_seconds'] / 60:.0f} minutes",
    ]
    for g in r["ablation_generators"]:
        runs = [x for x in r["runs"] if x["objective"] == "electra" and x["generator"] == g]
        runs = [x for x in runs if x["seed"] in r["ablation_seeds"]]
        quotes.append(f"{g}: ROC-AUC {mean(x['valid']['disc_auc'] for x in runs):.2f}")
    return quotes


def test_chapter4_quotes_the_committed_experiment():
    # every number of chapter 4's experiment prose comes from the committed results file
    text = re.sub(r"\s+", " ", _markdown(ROOT / "notebooks" / "04_electra.ipynb"))
    for quoted in _electra_quotes():
        assert quoted in text, f"04_electra.ipynb should say {quoted!r} ({ELECTRA_RESULTS.name})"
    from transformers import ElectraConfig, ElectraForMaskedLM

    from course_utils import electra
    from course_utils.flops import train_flops_per_step

    small = ElectraConfig(embedding_size=128, hidden_size=256, num_attention_heads=4)
    with __import__("torch").device("meta"):
        mlm = ElectraForMaskedLM(small)
        pair = electra.ElectraPretrainingModel.from_configs(small, seed=None)
    ratio = train_flops_per_step(pair, 128, 128) / train_flops_per_step(mlm, 128, 128)
    assert f"{ratio:.2f} x" in text, f"chapter 4 should quote the step cost ratio {ratio:.2f} x"


QUALITY = ROOT / "results" / "checkpoint_quality.json"


def test_chapter4_quotes_the_course_checkpoint_and_its_transfer():
    """Chapter 4 on course-electra-small: its card and results/checkpoint_quality.json."""
    from statistics import mean

    from course_utils.checkpoints import checkpoint_dir

    text = re.sub(r"\s+", " ", _markdown(ROOT / "notebooks" / "04_electra.ipynb"))
    card = json.loads((checkpoint_dir("course-electra-small") / "metrics.json").read_text())
    row = json.loads(QUALITY.read_text())["checkpoints"]["course-electra-small"]
    runs = json.loads(ELECTRA_RESULTS.read_text(encoding="utf-8"))["runs"]
    electra_tokens = mean(x["tokens_seen"] for x in runs if x["objective"] == "electra")
    v = card["valid"]
    quotes = [
        f"about {card['tokens_seen'] / 1e6:.0f}M tokens: {card['steps']:,} steps of "
        f"{card['batch_size']} blocks of {card['size']['block']}",
        f"{card['tokens_seen'] / electra_tokens:.0f} times the tokens of each ELECTRA run above",
        f"{_pct(v['replaced_fraction'])} of the tokens are replaced",
        f"ROC-AUC is {v['disc_auc']:.2f}, with a recall of {v['disc_recall']:.2f}",
        f"scores {_pct(row['pretrained']['mean'])}, against {_pct(row['random']['mean'])}",
        f"{_pct(row['probe']['pretrained'])} against {_pct(row['probe']['random'])}",
    ]
    for quoted in quotes:
        assert quoted in text, f"04_electra.ipynb should say {quoted!r}"
    # the claims: worse than random init, fine-tuned and frozen
    assert row["gain"] < 0 and row["probe"]["pretrained"] < row["probe"]["random"]


def test_chapter7_quotes_the_quality_file():
    """Chapter 7's reading of results/checkpoint_quality.json: numbers and the claims about them."""
    from transformers import AutoTokenizer

    from course_utils.checkpoints import checkpoint_dir

    text = re.sub(r"\s+", " ", _markdown(ROOT / "notebooks" / "07_finetuning.ipynb"))
    q = json.loads(QUALITY.read_text())
    rows = q["checkpoints"]
    bert = rows["course-bert-small"]

    def gain(name: str) -> str:
        return f"{abs(100 * rows[name]['gain']):.1f}"

    quotes = [
        f"{_pct(bert['pretrained']['mean'])} against {_pct(bert['random']['mean'])} for its twin: "
        f"{gain('course-bert-small')} points",
        f"course-roberta-small gains {gain('course-roberta-small')} points and "
        f"course-albert-small {gain('course-albert-small')}",
        f"course-electra-small is {gain('course-electra-small')} points *worse*",
        f"give {_pct(bert['probe']['pretrained'])} against {_pct(bert['probe']['random'])}",
        f"cuts {bert['vocabulary']['sst2_dev']:.0%} of the words in SST-2's dev sentences into "
        f"pieces, against {bert['vocabulary']['wikitext_valid']:.0%} of WikiText-2's own words",
        f"{q['recipe']['train_examples']:,} SST-2 sentences, one epoch, {len(q['seeds'])} seeds",
    ]
    for quoted in quotes:
        assert quoted in text, f"07_finetuning.ipynb should say {quoted!r} ({QUALITY.name})"
    # the claims: no checkpoint meets the aim; the small gains are within the seed spread;
    # ELECTRA is worse than its twin; the probe favours pretraining; the review words split
    assert set(rows) == {
        "course-bert-small",
        "course-roberta-small",
        "course-electra-small",
        "course-albert-small",
    }
    assert not any(r["aim_met"] for r in rows.values())
    for name in ("course-bert-small", "course-roberta-small", "course-albert-small"):
        r = rows[name]
        assert 0 <= r["gain"] < max(r["pretrained"]["std"], r["random"]["std"]), name
    assert rows["course-electra-small"]["gain"] < 0
    assert bert["probe"]["pretrained"] > bert["probe"]["random"]
    tokenizer = AutoTokenizer.from_pretrained(checkpoint_dir("course-bert-small"))
    assert all(len(tokenizer.tokenize(w)) > 1 for w in ("funny", "boring"))
    assert "83.2" in text and "BERT-Tiny" in text


FAMILIES = ROOT / "results" / "finetune_families.json"


def test_chapter7_quotes_the_families_file():
    """Chapter 7's reading of the family table and the learning-rate sweep."""
    text = re.sub(r"\s+", " ", _markdown(ROOT / "notebooks" / "07_finetuning.ipynb"))
    f = json.loads(FAMILIES.read_text())
    rows = {(r["model"], r["init"]): r for r in f["table"]}
    course = [r for (m, i), r in rows.items() if m.startswith("course-") and i == "pretrained"]
    low = min(course, key=lambda r: r["accuracy"]["mean"])
    high = max(course, key=lambda r: r["accuracy"]["mean"])
    mini = rows[("all-MiniLM-L6-v2", "pretrained")]
    twin = rows[("course-bert-small", "random")]
    points = {p["lr"]: p["accuracy"] for p in f["lr_sweep"]["points"]}
    best = max(points, key=lambda lr: points[lr]["mean"])
    quotes = [
        f"Fine-tuned on {f['plan']['train_examples']:,} sentences, the four course checkpoints",
        f"between {_pct(low['accuracy']['mean'])} ({low['model']}) and "
        f"{_pct(high['accuracy']['mean'])} ({high['model']})",
        f"from random weights scores {_pct(twin['accuracy']['mean'])}",
        f"scores {_pct(mini['accuracy']['mean'])} after only {mini['train_examples']:,} sentences",
        f"the committed run took about {f['seconds'] / 60:.0f} minutes",
        f"gives the best mean, {_pct(points[1e-3]['mean'])}, against {_pct(points[3e-4]['mean'])} "
        f"at $3 \\times 10^{{-4}}$ and {_pct(points[3e-3]['mean'])} at $3 \\times 10^{{-3}}$",
    ]
    for quoted in quotes:
        assert quoted in text, f"07_finetuning.ipynb should say {quoted!r} ({FAMILIES.name})"
    assert len(course) == 4 and best == 1e-3
    # "more than the spread between seeds at any one rate"
    drop = points[1e-3]["mean"] - max(points[3e-4]["mean"], points[3e-3]["mean"])
    assert drop > max(p["std"] for p in points.values())
    assert mini["accuracy"]["mean"] > high["accuracy"]["mean"] + 0.05
