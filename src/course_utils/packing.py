"""FULL-SENTENCES packing (Liu et al. 2019, arXiv:1907.11692, Section 4.2) with an on-disk cache.

RoBERTa drops next-sentence prediction and fills every input with contiguous text: sentences are
taken one after another, across sentence and document boundaries, until the block is full. Here
the token ids of consecutive WikiText lines are concatenated into one stream and cut into blocks
of `block_size` positions: `[CLS] t_1 ... t_n [SEP]` with n = block_size - 2 (for a RoBERTa
tokenizer cls/sep are `<s>`/`</s>`). No padding is wasted except in the very last block.

Difference from the paper, on purpose: RoBERTa adds an extra separator token between documents;
we do not, so one block may run from one article into the next without a marker.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from course_utils.config import DATASETS

#: Bump when the packed format changes, so that old cache files are not reused.
_CACHE_FORMAT = 1
_DATASET = "wikitext-2"


def pack_blocks(
    ids: Iterable[list[int]],
    block_size: int,
    cls_id: int,
    sep_id: int,
    pad_id: int,
    drop_last: bool = False,
) -> dict[str, torch.Tensor]:
    """Concatenate token-id lists into one stream and cut it into `[CLS] ... [SEP]` blocks.

    Returns `input_ids` and `attention_mask`, both (N, block_size) int64. Each block holds
    block_size - 2 stream tokens; the last, shorter block is `[CLS] rest [SEP]` followed by
    `pad_id` with attention_mask 0, unless `drop_last` drops it. Every stream token lands in
    exactly one block, in order (FULL-SENTENCES, Liu et al. 2019, arXiv:1907.11692, Section 4.2).
    """
    if block_size < 3:
        raise ValueError(
            f"block_size must be at least 3 ([CLS], one token, [SEP]), got {block_size}"
        )
    stream = torch.tensor(list(itertools.chain.from_iterable(ids)), dtype=torch.long)
    inner = block_size - 2
    n_full, rest = divmod(len(stream), inner)
    n_blocks = n_full + (1 if rest and not drop_last else 0)

    input_ids = torch.full((n_blocks, block_size), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((n_blocks, block_size), dtype=torch.long)
    if n_blocks == 0:
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    input_ids[:, 0] = cls_id
    # Full blocks: a reshape of the stream, so the order is kept and nothing is copied twice
    input_ids[:n_full, 1:-1] = stream[: n_full * inner].view(n_full, inner)
    input_ids[:n_full, -1] = sep_id
    attention_mask[:n_full] = 1
    if n_blocks > n_full:  # the last partial block: [SEP] right after its last token, then pads
        input_ids[-1, 1 : 1 + rest] = stream[n_full * inner :]
        input_ids[-1, 1 + rest] = sep_id
        attention_mask[-1, : rest + 2] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def tokenize_lines(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each non-blank line, without special tokens (they are added per block).

    Blank lines are skipped; headings such as " = Valkyria Chronicles III = " are kept (they are
    real text). Trailing whitespace and the "\\n" are dropped, the leading space is kept, so a
    byte-level BPE sees each line's first word as a mid-text word ("Ġword").
    """
    lines = [text.rstrip() for text in texts if text.strip()]
    if not lines:
        return []
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:  # the Rust tokenizer directly: no BatchEncoding to build, ~2x faster
        return [e.ids for e in backend.encode_batch_fast(lines, add_special_tokens=False)]
    return tokenizer(lines, add_special_tokens=False)["input_ids"]


def default_cache_dir() -> Path:
    """Env COURSE_CACHE_DIR, else ~/.cache/course_utils."""
    value = os.environ.get("COURSE_CACHE_DIR")
    return Path(value).expanduser() if value else Path.home() / ".cache" / "course_utils"


def _tokenizer_fingerprint(tokenizer: Any) -> str:
    """Hash of all that decides the ids: the tokenizer.json (vocab, merges, normalizer...)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        content = backend.to_str()
    else:  # a slow tokenizer: its vocabulary is the best we have
        content = json.dumps(sorted(tokenizer.get_vocab().items()))
    special = [tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id]
    return hashlib.sha256(f"{type(tokenizer).__name__}|{special}|{content}".encode()).hexdigest()


def _dataset_fingerprint() -> str:
    """Where WikiText-2 comes from: the offline files (name, size, mtime) or the Hub pin."""
    from course_utils.data import data_dir

    spec = DATASETS[_DATASET]
    root = data_dir()
    if root is None:
        return f"hub:{spec.repo_id}:{spec.config}@{spec.revision}"
    folder = root / spec.offline_dir
    files = sorted(p for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return f"offline:{folder.resolve()}:{stats}"


def cache_key(tokenizer: Any, split: str, block_size: int, max_lines: int | None) -> str:
    """The cache file's key: a hash of tokenizer, split, block_size, max_lines and data source."""
    parts = [
        str(_CACHE_FORMAT),
        _tokenizer_fingerprint(tokenizer),
        split,
        str(block_size),
        str(max_lines),
        _dataset_fingerprint(),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def load_blocks(
    tokenizer: Any,
    split: str,
    block_size: int,
    cache_dir: Path | None = None,
    max_lines: int | None = None,
) -> dict[str, torch.Tensor]:
    """WikiText-2 `split` tokenized and packed into FULL-SENTENCES blocks, cached on disk.

    The first call loads the split with `course_utils.data.load_course_dataset`, keeps its first
    `max_lines` lines (all if None), tokenizes, packs with `pack_blocks` (the last partial block
    padded) and saves the tensors with `torch.save` under `cache_dir` (default:
    `default_cache_dir()`). Later calls with the same tokenizer, split, block_size, max_lines and
    data source load that file and skip tokenization.
    """
    if block_size < 3:
        raise ValueError(
            f"block_size must be at least 3 ([CLS], one token, [SEP]), got {block_size}"
        )
    if max_lines is not None and max_lines < 1:
        raise ValueError(f"max_lines must be a positive number or None, got {max_lines}")
    if tokenizer.cls_token_id is None or tokenizer.sep_token_id is None:
        raise ValueError("the tokenizer needs a cls_token and a sep_token to frame each block")
    if tokenizer.pad_token_id is None:
        raise ValueError("the tokenizer needs a pad_token to pad the last block")

    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = cache_key(tokenizer, split, block_size, max_lines)
    path = folder / f"{_DATASET}-{split}-b{block_size}-{key}.pt"
    if path.is_file():
        blocks = torch.load(path, weights_only=True)
        # no path: it would end up in the executed book
        print(f"loaded {len(blocks['input_ids'])} blocks of {block_size} from the disk cache")
        return blocks

    from course_utils.data import load_course_dataset

    dataset = load_course_dataset(_DATASET, split=split)
    if max_lines is not None:
        dataset = dataset.select(range(min(max_lines, len(dataset))))
    texts = list(dataset["text"])
    ids = tokenize_lines(tokenizer, texts)
    blocks = pack_blocks(
        ids, block_size, tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    )
    folder.mkdir(parents=True, exist_ok=True)
    # Write then rename: an interrupted save never leaves a truncated file under the final name
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(blocks, tmp)
    os.replace(tmp, path)
    n_tokens = sum(len(x) for x in ids)
    print(
        f"packed {n_tokens} tokens of {_DATASET}/{split} into {len(blocks['input_ids'])} blocks "
        f"of {block_size}; cached on disk"
    )
    return blocks
