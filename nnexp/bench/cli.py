"""Training-speed benchmark: nnexp against a write-up NumPy baseline, PyTorch and scikit-learn.

Every implementation trains the same 784-H-10 sigmoid network (softmax cross-entropy,
plain SGD without momentum, learning rate 0.1) on the same synthetic MNIST-shaped data
(60,000 rows of 784 pixels in [0, 1], 10 classes, fixed seed), for each hidden size H,
batch size and BLAS thread count of the grid. The implementations take turns epoch by
epoch, so a slow spell of the machine hits all of them alike. Times are medians over the
timed epochs that follow the warm-up epochs; nnexp's time is its ``epoch_seconds``
(evaluation excluded). A round measured while other processes kept the CPUs busy is
measured again, and flagged in the summary if the machine never became quiet.

Run from the project folder::

    python -m nnexp.bench            # full grid: H 32/128/256, batch 64/256, 1 and 2 threads
    python -m nnexp.bench --quick    # H 128/256, batch 64, 2 timed epochs: enough for every target
    python -m nnexp.bench --hidden 128 --batch 64 --threads 1 --impl nnexp,torch --epochs 5

It also measures the float32 matmul peak of the machine, the achieved GFLOP/s of every
implementation, the targets nnexp is held to, and the peak memory of two worker processes
that load the data. Results go to ``--out`` (default ``reports/bench/``): ``bench.csv``,
``bench.png`` and ``bench.md`` (the printed summary). PyTorch is optional: without it the
torch rows are skipped with a note.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from functools import partial
from pathlib import Path

import pandas as pd

from nnexp.bench.grid import run_grid
from nnexp.bench.implementations import IMPLS
from nnexp.bench.machine import matmul_peak, quietly, reuse_freed_memory, small_matmul_speedup
from nnexp.bench.memory import loader_memory
from nnexp.bench.summary import plot, summary
from nnexp.bench.synthetic import synthetic_splits

FULL = {"hidden": [32, 128, 256], "batch": [64, 256], "threads": [1, 2], "epochs": 3, "warmup": 2}
QUICK = {**FULL, "hidden": [128, 256], "batch": [64], "epochs": 2}


def positive_ints(text: str) -> list[int]:
    """Comma-separated positive ints (an argparse type): ``"1,2"`` -> ``[1, 2]``."""
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; allowed: positive ints, comma-separated")
    return values


def _impls(text: str) -> list[str]:
    names = text.split(",")
    unknown = sorted(set(names) - set(IMPLS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown)}; allowed: {', '.join(IMPLS)}")
    return [impl for impl in IMPLS if impl in names]


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Options; grid values left unset come from the full grid, or the quick one with ``--quick``."""
    parser = argparse.ArgumentParser(prog="python -m nnexp.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", type=_impls, default=list(IMPLS), help=f"comma-separated subset of {','.join(IMPLS)}")
    parser.add_argument("--hidden", type=positive_ints, help="hidden sizes, comma-separated (default 32,128,256)")
    parser.add_argument("--batch", type=positive_ints, help="batch sizes, comma-separated (default 64,256)")
    parser.add_argument("--threads", type=positive_ints, help="BLAS thread counts, comma-separated (default 1,2)")
    parser.add_argument("--epochs", type=int, help="timed epochs per measurement, median reported (default 3)")
    parser.add_argument("--warmup", type=int, help="untimed warm-up epochs before them (default 2)")
    parser.add_argument("--quick", action="store_true", help="hidden 128,256, batch 64, 2 timed epochs")
    parser.add_argument("--out", type=Path, default=Path("reports/bench"), help="output folder (default reports/bench)")
    parser.add_argument("--samples", type=int, default=60_000, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.epochs < 1 or args.warmup < 0 or args.samples < 1:
        parser.error("--epochs and --samples must be >= 1, --warmup >= 0")
    args.argv = argv
    return args


def _import_torch() -> bool:
    """Import PyTorch if it is installed (so that thread limits reach it); False if it is not."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the benchmark, print the summary and write bench.csv, bench.png and bench.md."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    notes = []
    if not reuse_freed_memory():
        notes.append(
            "freed memory could not be kept in the process (not glibc): the baseline's and scikit-learn's"
            " per-epoch copies of the data may fault their pages in again every epoch"
        )
    if "torch" in args.impl and not _import_torch():
        args.impl.remove("torch")
        notes.append("torch rows skipped: PyTorch is not installed (it is an optional dependency)")
    args.out.mkdir(parents=True, exist_ok=True)
    load = partial(synthetic_splits, args.samples)
    with tempfile.TemporaryDirectory(prefix="nnexp-bench-") as folder:
        rss = loader_memory(Path(folder), args.samples)
    peaks = {threads: quietly(partial(matmul_peak, threads))[0] for threads in args.threads}
    most = max(args.threads)
    handoff = [quietly(partial(small_matmul_speedup, most))[0]] if most > 1 else []
    frame = run_grid(load(), args, peaks)
    if handoff:
        handoff.append(quietly(partial(small_matmul_speedup, most))[0])
        notes.append(
            f"A step-sized float32 matmul (64 x 784 @ 784 x 128) ran {handoff[0]:.2f}x faster on {most}"
            f" threads than on 1 before the grid and {handoff[1]:.2f}x after it. On this kind of virtual"
            " machine that figure changes over time (seen between 1.25x and 1.85x on 2 threads): when it"
            " is low, the CPUs hand work to each other slowly and every multi-thread row is slower."
        )
    frame.to_csv(args.out / "bench.csv", index=False)
    plot(frame, args.out / "bench.png")
    text = summary(args, frame, peaks, rss, notes)
    (args.out / "bench.md").write_text(text)
    print(text)
    return frame
