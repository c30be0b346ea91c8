"""Benchmark: the course's masked-only MLM loss vs the stock full-vocabulary loss.

The stock `BertForMaskedLM(labels=...)` projects every position onto the vocabulary and the loss
then ignores the ~85% that are not targets (Devlin et al. 2019, arXiv:1810.04805, mask 15%).
`course_utils.mlm.masked_lm_loss` projects the targets only and, by default, also runs the
encoder's last layer at the targets only (its other rows feed nothing). Three variants train the
same small BERT (budget sizes, same initial weights) on identical pre-masked batches with
`train_mlm`: the course loss, the course loss with the last layer run whole (what the head alone
buys), and the stock loss.

Memory, two numbers. "saved MiB": the activations autograd keeps for the backward pass of one
step, counted exactly with saved-tensor hooks; this is where the variants differ. "peak MiB": each
variant runs in a fresh subprocess and, after the warm-up steps, we reset the kernel's peak-RSS
mark and report the peak resident set during the timed steps minus the resident set before them
(Linux; noisy, since the allocator keeps freed memory); on CUDA `torch.cuda.max_memory_allocated`.

Speed-up, two numbers: the ratio of median tokens/s, and its range over the repeats, each repeat
pairing the variants' runs made back to back (a shared machine's load drifts between repeats).
`--out FILE.json` also writes every number with a description of the machine; the chapter 2 text
quotes the committed run `results/benchmark_mlm.json` (tests/test_chapters.py compares them).

    COURSE_DATA_DIR=../shared/data python scripts/benchmark_mlm.py [--budget cpu] [--steps 20]
        [--repeats 3] [--out results/benchmark_mlm.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

VARIANTS = (
    "course: last layer + head at targets",
    "course: head at targets only",
    "stock: full-vocabulary head",
)


def prepare(budget: str, vocab_size: int, n_batches: int, batch_size: int, out: Path) -> None:
    """Tokenizer, WikiText-2 blocks and `n_batches` masked batches with a fixed seed -> out."""
    from transformers import DataCollatorForLanguageModeling

    from course_utils.data import load_course_dataset
    from course_utils.mlm import model_size
    from course_utils.packing import load_blocks
    from course_utils.tokenization import train_wordpiece

    texts = list(load_course_dataset("wikitext-2", split="train")["text"])
    tokenizer = train_wordpiece(texts, vocab_size)
    block = model_size(budget).block
    blocks = load_blocks(tokenizer, "train", block)
    rows = [{"input_ids": x} for x in blocks["input_ids"][: n_batches * batch_size]]
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, seed=0)
    batches = [collator(rows[i : i + batch_size]) for i in range(0, len(rows), batch_size)]
    batches = [{k: b[k] for k in ("input_ids", "attention_mask", "labels")} for b in batches]
    torch.save({"batches": batches, "vocab_size": len(tokenizer)}, out)


def build_model(budget: str, vocab_size: int) -> torch.nn.Module:
    from transformers import BertForMaskedLM

    from course_utils.mlm import small_bert_config

    torch.manual_seed(0)  # same initial weights in both variants
    return BertForMaskedLM(small_bert_config(vocab_size, budget))


def _rss_kib() -> float:
    """Current resident set size in KiB (Linux /proc), else the peak so far (ru_maxrss)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1024
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process; Linux only, else a no-op."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_rss_kib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return float(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def saved_for_backward_mib(model: torch.nn.Module, batch: dict, loss_fn) -> float:
    """MiB of tensors autograd keeps for the backward pass of one step (the activations).

    Exact and noise-free, unlike a resident-set peak; storages shared by several saved tensors
    are counted once. Weights are excluded: they are the same in every variant.
    """
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in weights:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss_fn(model, batch).loss.backward()
    model.zero_grad(set_to_none=True)
    return sum(storages.values()) / 2**20


def run_variant(variant: int, data: Path, budget: str, warmup: int, steps: int) -> dict:
    """Warm up for `warmup` steps, then time `steps` training steps of one variant."""
    from functools import partial

    from course_utils.mlm import TrainConfig, full_vocab_loss, masked_lm_loss, train_mlm

    saved = torch.load(data, weights_only=True)
    batches = saved["batches"][: warmup + steps]
    batch_size = len(batches[0]["input_ids"])
    cuda = torch.cuda.is_available()
    model = build_model(budget, saved["vocab_size"])
    loss_fn = (
        masked_lm_loss,
        partial(masked_lm_loss, last_layer_at_targets=False),
        full_vocab_loss,
    )[variant]
    # warm-up: thread pools, allocator caches and lazy imports settle before anything is measured
    warm = TrainConfig(steps=warmup, batch_size=batch_size)
    train_mlm(model, batches[:warmup], warm, progress=False, loss_fn=loss_fn)
    activations = saved_for_backward_mib(model, batches[0], loss_fn)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    _reset_peak_rss()
    before = _rss_kib()
    timed = TrainConfig(steps=steps, batch_size=batch_size)
    history = train_mlm(model, batches[warmup:], timed, progress=False, loss_fn=loss_fn)
    tokens = sum(int(b["attention_mask"].sum()) for b in batches[warmup:])
    if cuda:
        peak_mib = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mib = (_peak_rss_kib() - before) / 1024
    return {
        "variant": VARIANTS[variant],
        "tokens_per_s": tokens / sum(history.step_seconds),
        "peak_mib": peak_mib,
        "activation_mib": activations,
        "first_loss": history.train_loss[0],
        "last_loss": history.train_loss[-1],
        "n_params": history.n_params,
    }


def macs_per_token(config, block: int, targets: float) -> list[float]:
    """Forward multiply-adds per input token for each variant (training costs ~3x for all).

    Per layer: Q, K, V, O projections 4H^2, feed-forward 2HF, attention scores and weighted sum
    2LH. MLM head: transform H^2 and vocabulary projection HV, at a `targets` fraction of the
    positions or at all of them. In the course's last layer K and V run everywhere, the rest at
    the targets only.
    """
    h, f, v, n = config.hidden_size, config.intermediate_size, config.vocab_size, block
    layer = 4 * h * h + 2 * h * f + 2 * n * h
    head = h * h + h * v
    layers = config.num_hidden_layers
    last_by_parts = 2 * h * h + targets * (2 * h * h + 2 * h * f + 2 * n * h)
    return [
        (layers - 1) * layer + last_by_parts + targets * head,
        layers * layer + targets * head,
        layers * layer + head,
    ]


def _summary(runs: list[dict]) -> dict:
    """Median tokens/s and peak memory over the repeats of one variant, with the tokens/s range."""
    speeds = sorted(r["tokens_per_s"] for r in runs)
    peaks = sorted(r["peak_mib"] for r in runs)
    return {
        **runs[0],
        "tokens_per_s": statistics.median(speeds),
        "speed_range": (speeds[0], speeds[-1]),
        "peak_mib": statistics.median(peaks),
    }


def paired_speedups(runs: list[list[dict]]) -> list[list[float]]:
    """Per variant, tokens/s over the stock variant's in the same repeat (runs[variant][repeat])."""
    stock = runs[-1]
    return [
        [r["tokens_per_s"] / s["tokens_per_s"] for r, s in zip(variant, stock, strict=True)]
        for variant in runs
    ]


def machine() -> dict:
    """What the numbers were measured on: CPU model, cores, threads, library versions, load."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import transformers

    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    if hasattr(os, "getloadavg"):  # other jobs on a shared machine slow every variant
        info["load_average_1min_at_start"] = round(os.getloadavg()[0], 2)
    return info


def same_loss(model: torch.nn.Module, batch: dict) -> tuple[float, float]:
    """(largest |course - stock|, stock loss) on one batch, same weights, eval mode (no dropout)."""
    from course_utils.mlm import full_vocab_loss, masked_lm_loss

    model.eval()
    with torch.no_grad():
        course = masked_lm_loss(model, batch).loss.item()
        head_only = masked_lm_loss(model, batch, last_layer_at_targets=False).loss.item()
        stock = full_vocab_loss(model, batch).loss.item()
    return max(abs(course - stock), abs(head_only - stock)), stock


def print_achieved(model: torch.nn.Module, batches: list, targets: float, results: list) -> None:
    """GFLOP/s of each variant (course_utils.flops) against this machine's measured matmul peak."""
    from course_utils import flops

    batch_size, block = batches[0]["input_ids"].shape
    tokens_per_step = sum(int(b["attention_mask"].sum()) for b in batches) / len(batches)
    # the FLOPs each variant really computes: targets-only head/last layer, or everything
    counted = (
        dict(n_targets=targets * block),
        dict(n_targets=targets * block, last_layer_at_targets=False),
        dict(n_targets=block, last_layer_at_targets=False),
    )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    peak = flops.measure_matmul_peak(device)
    print(f"float32 matmul peak measured on this {device}: {peak / 1e9:.1f} GFLOP/s")
    for r, kwargs in zip(results, counted, strict=True):
        per_step = flops.train_flops_per_step(model, batch_size, block, **kwargs)
        seconds_per_step = tokens_per_step / r["tokens_per_s"]
        got = flops.achieved(per_step, seconds_per_step, peak)
        print(
            f"{r['variant']:<38} {per_step / 1e9:6.2f} GFLOP/step, "
            f"{got['gflops_per_s']:6.1f} GFLOP/s = {got['fraction_of_peak']:.0%} of the peak"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", default="cpu", choices=["ci", "cpu", "gpu"])
    parser.add_argument("--vocab-size", type=int, default=8192)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (>= 1)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs per variant")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    parser.add_argument("--variant", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.warmup < 1 or args.steps < 1 or args.repeats < 1:
        parser.error("--warmup, --steps and --repeats must be at least 1")

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.variant is not None:  # child process: one variant, result as JSON on the last line
        result = run_variant(args.variant, args.data, args.budget, args.warmup, args.steps)
        print(json.dumps(result))
        return 0

    host = machine()  # before the runs: the load average then is the other jobs' load
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not os.environ.get("COURSE_DATA_DIR") and shared.is_dir():
        os.environ["COURSE_DATA_DIR"] = str(shared)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "batches.pt"
        prepare(args.budget, args.vocab_size, args.warmup + args.steps, args.batch_size, data)
        saved = torch.load(data, weights_only=True)
        model = build_model(args.budget, saved["vocab_size"])
        diff, stock_loss = same_loss(model, saved["batches"][0])
        labels = torch.cat([b["labels"] for b in saved["batches"]])
        targets = float((labels != -100).float().mean())  # fraction of positions that are targets
        macs = macs_per_token(model.config, labels.shape[1], targets)
        runs: list[list[dict]] = [[] for _ in VARIANTS]
        # alternate the variants: a shared machine's load drifts, and both should see the same
        for _ in range(args.repeats):
            for variant in range(len(VARIANTS)):
                cmd = [sys.executable, __file__, "--variant", str(variant), "--data", str(data)]
                cmd += ["--budget", args.budget, "--warmup", str(args.warmup)]
                cmd += ["--steps", str(args.steps)]
                cmd += ["--threads", str(args.threads)] if args.threads else []
                out = subprocess.run(cmd, check=True, capture_output=True, text=True)
                runs[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
        results = [_summary(r) for r in runs]
        paired = paired_speedups(runs)

    device = "cuda" if torch.cuda.is_available() else f"cpu ({os.cpu_count()} cores)"
    memory = "torch.cuda.max_memory_allocated" if device == "cuda" else "peak RSS growth"
    print(
        f"\nsmall BERT at budget {args.budget}: {results[0]['n_params']:,} parameters, vocab "
        f"{args.vocab_size}, batch {args.batch_size}, {args.steps} timed steps after "
        f"{args.warmup} warm-up steps, median of {args.repeats} alternating runs, device {device}, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}"
    )
    print(
        f"same batch, eval mode: stock loss {stock_loss:.6f}; largest |course - stock| = {diff:.2e}"
    )
    print(f"targets: {targets:.1%} of the positions; 'MAC ratio' = stock / variant multiply-adds")
    print("saved MiB: activations kept for backward in one step (exact); peak MiB: " + memory)
    header = f"{'variant':<38} {'tokens/s':>10} {'(min-max)':>13} {'ratio':>6} {'MAC ratio':>9} "
    header += f"{'saved MiB':>9} {'peak MiB':>9} {'loss 1st->last':>16}"
    print(header)
    base = results[-1]["tokens_per_s"]
    for r, mac in zip(results, macs, strict=True):
        losses = f"{r['first_loss']:.3f}->{r['last_loss']:.3f}"
        spread = f"{r['speed_range'][0]:.0f}-{r['speed_range'][1]:.0f}"
        print(
            f"{r['variant']:<38} {r['tokens_per_s']:>10.0f} {spread:>13} "
            f"{r['tokens_per_s'] / base:>5.2f}x {macs[-1] / mac:>8.2f}x "
            f"{r['activation_mib']:>9.1f} {r['peak_mib']:>9.0f} {losses:>16}"
        )
    for r, ratios in zip(results, paired, strict=True):
        print(f"{r['variant']:<38} speed-up per repeat: " + ", ".join(f"{x:.2f}x" for x in ratios))
    print_achieved(model, saved["batches"], targets, results)
    if args.out is not None:
        record = {
            "script": "scripts/benchmark_mlm.py",
            "date": time.strftime("%Y-%m-%d", time.gmtime()),
            "machine": host,
            "settings": {
                "budget": args.budget,
                "vocab_size": args.vocab_size,
                "batch_size": args.batch_size,
                "block": labels.shape[1],
                "warmup_steps": args.warmup,
                "timed_steps": args.steps,
                "repeats": args.repeats,
                "n_params": results[0]["n_params"],
            },
            "target_fraction": round(targets, 4),
            "stock_loss": stock_loss,
            "largest_loss_difference": diff,
            "variants": [
                {
                    "variant": r["variant"],
                    "tokens_per_s": round(r["tokens_per_s"], 1),
                    "tokens_per_s_per_repeat": [round(x["tokens_per_s"], 1) for x in runs_v],
                    "speedup": round(r["tokens_per_s"] / base, 3),
                    "speedup_per_repeat": [round(x, 3) for x in ratios],
                    "mac_ratio": round(macs[-1] / mac, 3),
                    "activation_mib": round(r["activation_mib"], 1),
                    "peak_mib": round(r["peak_mib"], 1),
                }
                for r, runs_v, ratios, mac in zip(results, runs, paired, macs, strict=True)
            ],
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    if diff > 1e-4:
        print("WARNING: the course and stock losses differ by more than 1e-4")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
