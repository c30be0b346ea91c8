"""BERT's masked-LM corruption and RoBERTa's static vs dynamic masking.

The rule (Devlin et al. 2019, arXiv:1810.04805, Section 3.1 and Appendix A.1): select 15% of the
positions at random; of the selected ones replace 80% with [MASK], 10% with a random token and
leave 10% unchanged; the model predicts the original token at every selected position.

Static vs dynamic (Liu et al. 2019, arXiv:1907.11692, Section 4.1): BERT drew the masks once in
preprocessing (duplicating the data 10 times, each copy with its own masks: `StaticMaskedDataset`
with copies=10); RoBERTa draws a fresh mask every time a sequence is fed to the model
(`DynamicMaskingCollator`, what `transformers.DataCollatorForLanguageModeling` does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

IGNORE_INDEX = -100  # labels with this value are skipped by torch.nn.CrossEntropyLoss


def _check_probabilities(
    mlm_probability: float, mask_replace_prob: float, random_replace_prob: float
) -> None:
    for name, value in [
        ("mlm_probability", mlm_probability),
        ("mask_replace_prob", mask_replace_prob),
        ("random_replace_prob", random_replace_prob),
    ]:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if mask_replace_prob + random_replace_prob > 1.0 + 1e-12:
        raise ValueError(
            "mask_replace_prob + random_replace_prob must not exceed 1 (the rest stays unchanged), "
            f"got {mask_replace_prob} + {random_replace_prob}"
        )


def special_tokens_mask_for(input_ids: torch.Tensor, tokenizer: Any) -> torch.Tensor:
    """True where `input_ids` holds a special token ([CLS], [SEP], [PAD], [MASK], [UNK]...).

    Same rule as `DataCollatorForLanguageModeling` in transformers 5: membership in
    `tokenizer.all_special_ids`. Note that this also protects [UNK] (BERT's original code only
    skipped [CLS] and [SEP]): predicting [UNK] teaches nothing.
    """
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=input_ids.dtype)
    mask = torch.isin(input_ids, special)
    if tokenizer.pad_token_id is not None:  # padding is never a prediction target
        mask |= input_ids == tokenizer.pad_token_id
    return mask


def mask_tokens(
    input_ids: torch.Tensor,
    tokenizer: Any,
    mlm_probability: float = 0.15,
    mask_replace_prob: float = 0.8,
    random_replace_prob: float = 0.1,
    generator: torch.Generator | None = None,
    special_tokens_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply BERT's 15% / 80-10-10 rule; return (masked input_ids, labels). Input is not modified.

    Each position that is not a special or padding token is selected with probability
    `mlm_probability` (independent Bernoulli draws, so the count per sequence varies). Labels hold
    the original id at selected positions and -100 elsewhere. Of the selected positions,
    `mask_replace_prob` become [MASK], `random_replace_prob` a random id drawn uniformly from
    `range(len(tokenizer))` (special tokens included, and it may equal the original token, exactly
    as `DataCollatorForLanguageModeling`), the rest stay unchanged (Devlin et al. 2019,
    arXiv:1810.04805, Section 3.1, Appendix A.1). `special_tokens_mask` (True/1 = never select)
    defaults to `special_tokens_mask_for`. Pass a seeded `generator` for reproducible masks.
    """
    _check_probabilities(mlm_probability, mask_replace_prob, random_replace_prob)
    if tokenizer.mask_token_id is None:
        raise ValueError("the tokenizer has no mask token: masked LM needs one")
    if input_ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"input_ids must be an integer tensor, got {input_ids.dtype}")
    if special_tokens_mask is None:
        special_tokens_mask = special_tokens_mask_for(input_ids, tokenizer)
    elif special_tokens_mask.shape != input_ids.shape:
        raise ValueError(
            f"special_tokens_mask has shape {tuple(special_tokens_mask.shape)}, "
            f"input_ids {tuple(input_ids.shape)}"
        )

    inputs = input_ids.clone()  # never modify the caller's tensor
    labels = input_ids.clone()

    # 1. Select ~15% of the positions, never a special or padding token
    probability = torch.full(inputs.shape, mlm_probability)
    probability.masked_fill_(special_tokens_mask.bool(), 0.0)
    selected = torch.bernoulli(probability, generator=generator).bool()
    labels[~selected] = IGNORE_INDEX  # the loss sees only the selected positions

    # 2. 80% of the selected -> [MASK]. The draws follow DataCollatorForLanguageModeling's order,
    # so with the same generator state both give identical results
    to_mask = torch.bernoulli(torch.full(inputs.shape, mask_replace_prob), generator=generator)
    to_mask = to_mask.bool() & selected
    inputs[to_mask] = tokenizer.mask_token_id
    if mask_replace_prob == 1.0 or random_replace_prob == 0.0:
        return inputs, labels

    # 3. 10% of the selected -> random token: 0.1 of all selected is 0.1 / 0.2 = half of the
    # selected positions that step 2 left alone
    scaled = random_replace_prob / (1.0 - mask_replace_prob)
    to_random = torch.bernoulli(torch.full(inputs.shape, scaled), generator=generator).bool()
    to_random &= selected & ~to_mask
    random_ids = torch.randint(
        len(tokenizer), inputs.shape, dtype=inputs.dtype, generator=generator
    )
    inputs[to_random] = random_ids[to_random]
    # 4. The remaining ~10% keep their token: the model cannot trust that a visible token is right
    return inputs, labels


class StaticMaskedDataset(Dataset):
    """BERT's static masking: masks drawn once, at construction (Liu et al. 2019, Section 4.1).

    `blocks` holds `input_ids` and `attention_mask` (N, L), e.g. from `packing.load_blocks`.
    With `copies=k` the data is duplicated k times, each copy with its own masks, as BERT's
    preprocessing did with k=10; item i is example i % N of copy i // N. Every access returns the
    same masked example: dicts with `input_ids`, `attention_mask`, `labels` (fresh tensors).
    """

    def __init__(
        self,
        blocks: Mapping[str, torch.Tensor],
        tokenizer: Any,
        copies: int = 1,
        seed: int = 0,
        mlm_probability: float = 0.15,
        mask_replace_prob: float = 0.8,
        random_replace_prob: float = 0.1,
    ) -> None:
        if copies < 1:
            raise ValueError(f"copies must be at least 1, got {copies}")
        if "input_ids" not in blocks or "attention_mask" not in blocks:
            raise ValueError("blocks must hold 'input_ids' and 'attention_mask' tensors")
        generator = torch.Generator().manual_seed(seed)
        # padding (attention_mask 0) is never selected, whatever its id
        protected = special_tokens_mask_for(blocks["input_ids"], tokenizer)
        protected |= blocks["attention_mask"] == 0
        masked, labels = [], []
        for _ in range(copies):  # one generator for all copies: each copy gets different masks
            m, lab = mask_tokens(
                blocks["input_ids"],
                tokenizer,
                mlm_probability,
                mask_replace_prob,
                random_replace_prob,
                generator=generator,
                special_tokens_mask=protected,
            )
            masked.append(m)
            labels.append(lab)
        self.input_ids = torch.cat(masked)
        self.labels = torch.cat(labels)
        self.attention_mask = blocks["attention_mask"].repeat(copies, 1)
        self.copies = copies

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        # clones, so that a caller editing a batch in place cannot change the stored masks
        return {
            "input_ids": self.input_ids[i].clone(),
            "attention_mask": self.attention_mask[i].clone(),
            "labels": self.labels[i].clone(),
        }


def _pad(rows: Sequence[Any], value: int) -> torch.Tensor:
    tensors = [torch.as_tensor(r, dtype=torch.long) for r in rows]
    length = max(len(t) for t in tensors)
    out = torch.full((len(tensors), length), value, dtype=torch.long)
    for i, t in enumerate(tensors):
        out[i, : len(t)] = t
    return out


class DynamicMaskingCollator:
    """RoBERTa's dynamic masking: a fresh mask every batch (Liu et al. 2019, Section 4.1).

    A `collate_fn` for a DataLoader over dicts with `input_ids` (and optionally
    `attention_mask`), lists or tensors; rows of different lengths are right-padded with the pad
    token. Returns `input_ids`, `attention_mask`, `labels`. Its own generator, seeded with `seed`,
    makes a run reproducible: the same seed and the same batches give the same masks, while the
    same sequence in two batches gets different masks. In DataLoader worker processes the
    generator is reseeded with seed + worker id (as DataCollatorForLanguageModeling does), so
    workers do not repeat each other's masks.
    """

    def __init__(
        self,
        tokenizer: Any,
        mlm_probability: float = 0.15,
        seed: int = 0,
        mask_replace_prob: float = 0.8,
        random_replace_prob: float = 0.1,
    ) -> None:
        _check_probabilities(mlm_probability, mask_replace_prob, random_replace_prob)
        if tokenizer.pad_token_id is None:
            raise ValueError("the tokenizer needs a pad token to pad batches")
        self.tokenizer = tokenizer
        self.mlm_probability = mlm_probability
        self.mask_replace_prob = mask_replace_prob
        self.random_replace_prob = random_replace_prob
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self._worker_id: int | None = None

    def __call__(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if not examples:
            raise ValueError("cannot collate an empty list of examples")
        worker = torch.utils.data.get_worker_info()
        if worker is not None and self._worker_id != worker.id:
            self._worker_id = worker.id
            self.generator.manual_seed(self.seed + worker.id)
        input_ids = _pad([e["input_ids"] for e in examples], self.tokenizer.pad_token_id)
        if all("attention_mask" in e for e in examples):
            attention_mask = _pad([e["attention_mask"] for e in examples], 0)
        else:
            attention_mask = (input_ids != self.tokenizer.pad_token_id).long()
        masked, labels = mask_tokens(
            input_ids,
            self.tokenizer,
            self.mlm_probability,
            self.mask_replace_prob,
            self.random_replace_prob,
            generator=self.generator,
            special_tokens_mask=special_tokens_mask_for(input_ids, self.tokenizer)
            | (attention_mask == 0),
        )
        return {"input_ids": masked, "attention_mask": attention_mask, "labels": labels}
