"""Training-speed benchmark: nnexp against a write-up NumPy baseline, PyTorch and scikit-learn.

Every implementation trains the same 784-H-10 sigmoid network (softmax cross-entropy) on the same
synthetic MNIST-shaped data (60,000 rows of 784 pixels in [0, 1], 10 classes, fixed seed), for each
optimizer, hidden size H, batch size and BLAS thread count of the grid.

Optimizers (--optimizer): sgd (plain SGD, learning rate 0.1), momentum and nesterov (heavy-ball and
Nesterov momentum 0.9, rate 0.01), adam (betas 0.9, 0.999, eps 1e-8) and rmsprop (alpha 0.99, eps 1e-8),
both at rate 0.001. nnexp trains with its own optimizer of that name, PyTorch with the torch.optim one
with the same settings (SGD, SGD with momentum, with nesterov=True, Adam, RMSprop); scikit-learn's
MLPClassifier has sgd (its sgd solver, no momentum) and adam (its adam solver), the write-up baseline sgd
only: an implementation is skipped at the rows of an optimizer it lacks (the summary says so).

Batch sizes (--batch): samples per step, from 1 (per-sample SGD, one step per sample) up to ``full``
(full-batch gradient descent: one step per epoch over the whole training set; nnexp and PyTorch take the
rows as they are, the baseline and scikit-learn shuffle them first, as their code does at every batch size).

The implementations take turns epoch by epoch, so a slow spell of the machine hits all of them alike.
Times are medians over the timed epochs that follow the warm-up epochs; batch-1 rows, whose epochs take
tens of seconds for the peers, get 1 timed epoch and no warm-up (--epochs and --warmup, when given, apply
to them too). nnexp's time is its ``run_epoch`` (evaluation excluded). A round measured while other
processes kept the CPUs busy is measured again, and flagged in the summary if the machine never became quiet.

Run from the project folder::

    python -m nnexp.bench            # full grid, 1 and 2 threads: sgd at H 32/128/256 x batch 64/256 and at
                                     # H 128 x batch 1/full; momentum/nesterov/adam/rmsprop at H 128 batch 64
    python -m nnexp.bench --quick    # 2 timed epochs; batch 64: sgd at H 128/256, the others at H 128; every target
    python -m nnexp.bench --hidden 128 --batch 64,full --threads 1 --impl nnexp,torch --optimizer sgd,adam

Any of --optimizer, --hidden and --batch makes the grid the plain product of the values given and the
defaults of the others (sgd; H 32,128,256 or, with --quick, 128,256; batch 64,256 or 64). --quick has no
batch-1 or full-batch rows: the batch-1 epochs alone would take minutes.

It also measures the float32 matmul peak of the machine, the achieved GFLOP/s of every
implementation, the targets nnexp is held to, and the peak memory of two worker processes
that load the data. Results go to ``--out`` (default ``outputs/bench/``; curated runs are copied
to ``reports/bench/``): ``bench.csv``, ``bench.png`` and ``bench.md`` (the printed summary).
PyTorch is optional: without it the torch rows are skipped with a note.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd

from nnexp.bench.grid import FULL_BATCH, lacking, run_grid
from nnexp.bench.implementations import IMPLS, OPTIMIZERS_OF
from nnexp.bench.machine import matmul_peak, quietly, reuse_freed_memory, small_matmul_speedup
from nnexp.bench.memory import loader_memory
from nnexp.bench.summary import plot, summary
from nnexp.bench.synthetic import synthetic_splits
from nnexp.optim import OPTIMIZERS

# the grid is a list of blocks, each timed as the product of its lists (and of the thread counts)
SGD_GRID = {"optimizer": ["sgd"], "hidden": [32, 128, 256], "batch": [64, 256]}
OTHER_OPTIMIZERS = {"optimizer": [name for name in OPTIMIZERS if name != "sgd"], "hidden": [128], "batch": [64]}
BATCH_MODES = {"optimizer": ["sgd"], "hidden": [128], "batch": [1, FULL_BATCH]}
FULL = {"grid": [SGD_GRID, OTHER_OPTIMIZERS, BATCH_MODES], "threads": [1, 2], "epochs": 3, "warmup": 2}
QUICK = {**FULL, "grid": [{**SGD_GRID, "hidden": [128, 256], "batch": [64]}, OTHER_OPTIMIZERS], "epochs": 2}
# warm-up and timed epochs of batch-1 rows unless given: their 60,000 steps take tens of seconds for the peers
PER_SAMPLE = (0, 1)


def positive_ints(text: str) -> list[int]:
    """Comma-separated positive ints (an argparse type): ``"1,2"`` -> ``[1, 2]``."""
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; allowed: positive ints, comma-separated")
    return values


def batch_sizes(text: str) -> list[int | str]:
    """Comma-separated positive ints or ``full`` (an argparse type): ``"1,full"`` -> ``[1, "full"]``."""
    try:
        return [FULL_BATCH if value == FULL_BATCH else positive_ints(value)[0] for value in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is invalid; allowed: positive ints or {FULL_BATCH}, comma-separated"
        ) from None


def _subset(allowed: list[str]) -> Callable[[str], list[str]]:
    """An argparse type: a comma-separated subset of ``allowed``, returned in the order of ``allowed``."""

    def parse(text: str) -> list[str]:
        names = text.split(",")
        unknown = sorted(set(names) - set(allowed))
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown)}; allowed: {', '.join(allowed)}")
        return [name for name in allowed if name in names]

    return parse


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Options. ``args.grid`` (blocks, see :func:`nnexp.bench.grid.settings`) is the full grid, or the quick one
    with ``--quick``; with any of ``--optimizer``, ``--hidden``, ``--batch`` it is one block of those and the
    defaults of the others. Values left unset come from the same grid; ``args.per_sample`` holds the warm-up and
    timed epochs of batch-1 settings."""
    parser = argparse.ArgumentParser(
        prog="python -m nnexp.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--impl", type=_subset(list(IMPLS)), default=list(IMPLS), help=f"comma-separated subset of {','.join(IMPLS)}"
    )
    parser.add_argument(
        "--optimizer",
        type=_subset(list(OPTIMIZERS)),
        help=f"optimizers, comma-separated subset of {','.join(OPTIMIZERS)} (default sgd; the default grids"
        " also time the others at H 128 batch 64)",
    )
    parser.add_argument("--hidden", type=positive_ints, help="hidden sizes, comma-separated (default 32,128,256)")
    parser.add_argument(
        "--batch",
        type=batch_sizes,
        help=f"batch sizes, comma-separated positive ints or {FULL_BATCH} (default 64,256; the full grid also"
        f" times sgd at H 128 with 1 and {FULL_BATCH})",
    )
    parser.add_argument("--threads", type=positive_ints, help="BLAS thread counts, comma-separated (default 1,2)")
    parser.add_argument(
        "--epochs", type=int, help="timed epochs per measurement, median reported (default 3; batch-1 rows 1)"
    )
    parser.add_argument("--warmup", type=int, help="untimed warm-up epochs before them (default 2; batch-1 rows 0)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"batch 64, sgd at hidden 128,256, {','.join(OTHER_OPTIMIZERS['optimizer'])} at hidden 128;"
        " 2 timed epochs",
    )
    parser.add_argument("--out", type=Path, default=Path("outputs/bench"), help="output folder (default outputs/bench)")
    parser.add_argument("--samples", type=int, default=60_000, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    given = {key: getattr(args, key) for key in ("optimizer", "hidden", "batch") if getattr(args, key) is not None}
    args.grid = [{**defaults["grid"][0], **given}] if given else defaults["grid"]
    args.per_sample = (
        PER_SAMPLE[0] if args.warmup is None else args.warmup,
        PER_SAMPLE[1] if args.epochs is None else args.epochs,
    )
    for key in ("threads", "epochs", "warmup"):
        if getattr(args, key) is None:
            setattr(args, key, defaults[key])
    if args.epochs < 1 or args.warmup < 0 or args.samples < 1:
        parser.error("--epochs and --samples must be >= 1, --warmup >= 0")
    optimizers = {name for block in args.grid for name in block["optimizer"]}
    if not any(optimizers & set(OPTIMIZERS_OF[impl]) for impl in args.impl):
        parser.error(f"--impl {','.join(args.impl)} has none of the optimizers {','.join(sorted(optimizers))}")
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
    for impl, names in lacking(args).items():
        notes.append(
            f"{impl} skipped at the {', '.join(names)} rows: it is timed with {' and '.join(OPTIMIZERS_OF[impl])} only"
        )
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
