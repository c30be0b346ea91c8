"""Check what the website will show: read the strict content build and fail on what readers hit.

    python scripts/build_book.py --offline    # writes book/_build/offline-site
    python scripts/check_site.py              # reads it; exit 1 and one line per problem

The real book theme cannot be built offline, but the content build writes each page as JSON
(``content/*.json``: the parsed page with every executed output), which is exactly what the theme
renders. Checked on every page, skipping cells the site removes (``remove-cell``):

- widget views, widget state and widget reprs (``VBox(...)``): a static page has no kernel, so it
  shows "a Jupyter kernel connection is required" or the raw repr; also that notice itself;
- progress bars (tqdm frames, ``it/s]``, "Loading weights"): a frozen frame on a static page;
- machine paths in outputs (``/tmp/``, ``/root/``, ``/home/``, ``site-packages``, ...);
- error outputs (a traceback on the site);
- a page title shown twice (the page title and an identical level-1 heading);
- code lines and text-output lines longer than ``--width`` characters (the page cuts them);
- tables printed as text that pandas wrapped or truncated (use ``display(df)``).

Each problem is printed as ``page (source file): [rule] snippet``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SITE = ROOT / "book" / "_build" / "offline-site"
WIDTH = 88

WIDGET_MIMES = (
    "application/vnd.jupyter.widget-view+json",
    "application/vnd.jupyter.widget-state+json",
)
WIDGET_REPR = re.compile(
    r"\b(?:VBox|HBox|GridBox|Box|interactive|IntSlider|FloatSlider|IntProgress|FloatProgress|"
    r"Dropdown|Checkbox|ToggleButtons?|Button|Output|Tab|Accordion|HTMLMath|Label)\((?:children|"
    r"value|layout|description|outputs|options|min|max)="
)
KERNEL_NOTICE = re.compile(
    r"kernel connection|Widget Javascript not detected|widget state could not be found|"
    r"Error displaying widget",
    re.I,
)
PROGRESS = re.compile(
    r"\d+%\|"  # tqdm's "  0%|"
    r"|\|\s*\d+/\d+\s*\["  # "| 3/10 ["
    r"|(?:it|s|B)/s\]|s/it\]"  # rates
    r"|Loading weights|Downloading|█"
)
MACHINE_PATH = re.compile(
    r"(?<![\w.:/])(?:/tmp/|/root/|/home/|/work/|/Users/|/private/var/|/var/folders/)"
    r"|site-packages|dist-packages|[A-Z]:\\\\Users"
)
WRAPPED_TABLE = re.compile(r"^.*\S {2,}\S.* \\$", re.M)  # pandas' wrapped-columns marker
TRUNCATED_TABLE = re.compile(r"^\[\d+ rows x \d+ columns\]$", re.M)
# The site renders the richest of these; text/plain is only shown when none is present.
RICH = ("text/html", "image/png", "image/jpeg", "image/svg+xml", "text/markdown", "text/latex")


@dataclass(frozen=True)
class Problem:
    page: str
    rule: str
    snippet: str

    def __str__(self) -> str:
        return f"{self.page}: [{self.rule}] {self.snippet}"


def _short(text: str, match: re.Match | None = None, width: int = 100) -> str:
    """One line of context around `match` (or the start of `text`), for the report."""
    if match is not None:
        start = text.rfind("\n", 0, match.start()) + 1
        end = text.find("\n", match.end())
        # start a little before the match, so that a long line still shows what was found
        start = max(start, match.start() - width // 3)
        text = ("..." if start > 0 and text[start - 1] != "\n" else "") + text[
            start : end if end != -1 else len(text)
        ]
    line = " ".join(text.strip().split())
    return json.dumps(line if len(line) <= width else line[: width - 3] + "...")


def _content(value: object) -> str:
    """mystmd stores output data as {"content": ..., "content_type": ...}; plain strings too."""
    if isinstance(value, dict):
        value = value.get("content", "")
    if isinstance(value, list):
        value = "".join(value)
    return value if isinstance(value, str) else ""


def _text(node: dict) -> str:
    if "value" in node and isinstance(node["value"], str):
        return node["value"]
    return "".join(_text(child) for child in node.get("children", []))


def _walk(node: dict) -> Iterator[dict]:
    """Every node the site shows (nodes with visibility 'remove' and their children skipped)."""
    if node.get("visibility") == "remove":
        return
    yield node
    for child in node.get("children", []):
        if isinstance(child, dict):
            yield from _walk(child)


def _long_lines(text: str, width: int) -> list[str]:
    return [line for line in text.splitlines() if len(line.rstrip()) > width]


def check_output(page: str, jupyter: dict, width: int) -> list[Problem]:
    """Problems in one executed output (as stored under an `output` node's jupyter_data)."""
    found: list[Problem] = []
    kind = jupyter.get("output_type")
    if kind == "error":
        name = f"{jupyter.get('ename', '')}: {jupyter.get('evalue', '')}"
        return [Problem(page, "error output", _short(name))]
    shown: list[tuple[str, bool]] = []  # (text, is monospaced text whose lines can be cut)
    if kind == "stream":
        shown.append((_content(jupyter.get("text", "")), True))
    data = jupyter.get("data", {}) or {}
    for mime in WIDGET_MIMES:
        if mime in data:
            found.append(Problem(page, "widget view", _short(_content(data.get("text/plain")))))
    rich = [mime for mime in RICH if mime in data]
    if "text/plain" in data and not rich:
        shown.append((_content(data["text/plain"]), True))
    for mime in ("text/html", "text/markdown"):
        if mime in data:
            shown.append((_content(data[mime]), False))
    for text, monospaced in shown:
        for rule, pattern in (
            ("widget repr", WIDGET_REPR),
            ("kernel-connection notice", KERNEL_NOTICE),
            ("progress bar", PROGRESS),
            ("machine path", MACHINE_PATH),
        ):
            match = pattern.search(text)
            if match:
                found.append(Problem(page, rule, _short(text, match)))
        if kind == "stream" and "\r" in text:
            found.append(Problem(page, "progress bar", _short(text.replace("\r", "\n"))))
        if not monospaced:
            continue
        match = WRAPPED_TABLE.search(text) or TRUNCATED_TABLE.search(text)
        if match:
            found.append(Problem(page, "table cut into text (use display(df))", _short(text)))
        for line in _long_lines(text, width):
            found.append(Problem(page, f"output line over {width} chars", _short(line)))
    return found


def check_page(page_json: dict, width: int = WIDTH) -> list[Problem]:
    """Every problem on one page of the content build."""
    page = page_json.get("location") or page_json.get("slug", "?")
    found: list[Problem] = []
    if page_json.get("widgets"):
        found.append(Problem(page, "widget state", f"{len(page_json['widgets'])} widget model(s)"))
    title = (page_json.get("frontmatter") or {}).get("title", "")
    for node in _walk(page_json.get("mdast", {})):
        kind = node.get("type")
        if kind == "heading" and node.get("depth") == 1:
            heading = _text(node).strip()
            if title and heading == title.strip():
                found.append(Problem(page, "duplicated title", _short(heading)))
        elif kind == "code":
            for line in _long_lines(node.get("value", ""), width):
                found.append(Problem(page, f"code line over {width} chars", _short(line)))
        elif kind == "output":
            found.extend(check_output(page, node.get("jupyter_data") or {}, width))
        elif kind == "text" and KERNEL_NOTICE.search(node.get("value", "")):
            found.append(Problem(page, "kernel-connection notice", _short(node["value"])))
    return found


def _count_outputs(page_json: dict) -> int:
    return sum(1 for node in _walk(page_json.get("mdast", {})) if node.get("type") == "output")


def check_site(site: Path, width: int = WIDTH, min_outputs: int = 1) -> list[str]:
    """Problems of the whole site as report lines (empty when clean).

    Raises:
        FileNotFoundError: when `site` holds no built pages, so the check cannot pass vacuously.
    """
    pages = sorted((site / "content").glob("*.json"))
    if not pages:
        raise FileNotFoundError(
            f"no pages under {site / 'content'}: build first with "
            "`python scripts/build_book.py --offline`"
        )
    lines: list[str] = []
    outputs = 0
    for path in pages:
        page_json = json.loads(path.read_text(encoding="utf-8"))
        outputs += _count_outputs(page_json)
        lines.extend(f"{str(p)}  <- content/{path.name}" for p in check_page(page_json, width))
    if outputs < min_outputs:
        lines.append(
            f"{site}: only {outputs} executed output(s) on the whole site (at least {min_outputs} "
            "expected): were the notebooks executed before the build?"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=DEFAULT_SITE, help="content build folder")
    parser.add_argument("--width", type=int, default=WIDTH, help="longest line the page shows")
    parser.add_argument(
        "--min-outputs", type=int, default=1, help="fail when fewer outputs exist (not executed)"
    )
    args = parser.parse_args(argv)
    try:
        problems = check_site(args.site, args.width, args.min_outputs)
    except FileNotFoundError as err:
        print(f"check_site: {err}")
        return 2
    if problems:
        print("\n".join(problems))
        print(f"\ncheck_site: {len(problems)} problem(s) a reader of the website would see")
        return 1
    print(f"check_site: {args.site} is clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
