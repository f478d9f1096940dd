"""The benchmark's report: the targets nnexp is held to, the bar chart and the Markdown summary."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from nnexp.bench.grid import COLUMNS, FULL_BATCH, rounds
from nnexp.bench.implementations import IMPLS, LEARNING_RATES
from nnexp.bench.machine import BUSY_CPUS, RETRIES, environment
from nnexp.optim import OPTIMIZERS
from nnexp.sweep.provenance import git_revision


class SpeedTarget(NamedTuple):
    """(key) nnexp is at least ``goal`` times as fast as ``impl``, both training with ``optimizer`` at
    (``hidden``, ``batch``), both at ``threads`` threads (None: the best thread count of each)."""

    key: str
    impl: str
    goal: float
    optimizer: str = "sgd"
    hidden: int = 128
    batch: int = 64
    threads: int | None = None


SPEED_TARGETS = (
    SpeedTarget("a", "torch", 1.5),
    SpeedTarget("b", "sklearn", 2.0),
    SpeedTarget("d", "numpy_writeup", 2.5),
    *(SpeedTarget("e", "torch", 1.5, hidden=hidden, threads=threads) for hidden in (128, 256) for threads in (1, 2)),
    *(SpeedTarget("f", "torch", 1.3, optimizer=name) for name in ("momentum", "nesterov", "adam", "rmsprop")),
)


def _best(frame: pd.DataFrame, impl: str, target: SpeedTarget) -> pd.Series | None:
    """The fastest row of ``impl`` at the target's optimizer, hidden size, batch and (unless None) thread
    count, or None if not measured."""
    rows = frame[
        (frame["impl"] == impl)
        & (frame["optimizer"] == target.optimizer)
        & (frame["hidden"] == target.hidden)
        & (frame["batch"] == target.batch)
    ]
    if target.threads is not None:
        rows = rows[rows["threads"] == target.threads]
    return None if rows.empty else rows.loc[rows["sec_per_epoch"].idxmin()]


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def _speed_line(frame: pd.DataFrame, target: SpeedTarget) -> str:
    key, impl, goal, optimizer, hidden, batch, threads = target
    where = "best threads each" if threads is None else f"{threads} thread(s)"
    what = f"({key}) nnexp {optimizer} >= {goal}x faster than {impl} {optimizer} at H={hidden} batch {batch}, {where}:"
    ours, theirs = _best(frame, "nnexp", target), _best(frame, impl, target)
    if ours is None or theirs is None:
        return f"{what} SKIP (not measured)"
    speedup = theirs["sec_per_epoch"] / ours["sec_per_epoch"]
    figures = (
        f"nnexp {ours['sec_per_epoch']:.3f} s at {ours['threads']} thread(s), "
        f"{impl} {theirs['sec_per_epoch']:.3f} s at {theirs['threads']}"
    )
    return f"{what} {speedup:.2f}x ({figures}) {_verdict(speedup >= goal)}"


def evaluate_targets(frame: pd.DataFrame) -> list[str]:
    """One line per target, PASS/FAIL with the measured figures (SKIP (not measured) when not in the grid)."""
    lines = [(target.key, _speed_line(frame, target)) for target in SPEED_TARGETS]
    nnexp = frame[(frame["impl"] == "nnexp") & (frame["optimizer"] == "sgd")]
    row = nnexp[(nnexp["hidden"] == 256) & (nnexp["batch"] == 64) & (nnexp["threads"] == 1)]
    what = "(c) nnexp sgd >= 75% of the 1-thread float32 matmul peak at H=256 batch 64 1 thread:"
    if row.empty:
        lines.append(("c", f"{what} SKIP (not measured)"))
    else:
        pct, gflops = row["pct_of_peak"].iloc[0], row["gflops"].iloc[0]
        lines.append(("c", f"{what} {pct:.1f}% ({gflops:.1f} GFLOP/s) {_verdict(pct >= 75)}"))
    return [line for _, line in sorted(lines, key=lambda pair: pair[0])]  # (a) to (f), each key's lines in order


def plot(frame: pd.DataFrame, path: Path) -> None:
    """Bar chart of samples/s per implementation, grouped by (optimizer, hidden, batch) in the grid's order, at
    each one's best thread count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = frame.loc[frame.groupby(["impl", "optimizer", "hidden", "batch"], sort=False)["samples_per_s"].idxmax()]
    groups = best["optimizer"] + "\nH " + best["hidden"].astype(str) + ", batch " + best["batch"].astype(str)
    table = best.assign(group=groups).pivot(index="group", columns="impl", values="samples_per_s")
    table = table.reindex(index=groups.unique(), columns=[impl for impl in IMPLS if impl in table.columns])
    fig, ax = plt.subplots(figsize=(1.6 * len(table) + 3, 4))
    table.plot.bar(ax=ax, logy=True, rot=0)
    ax.set_xlabel("optimizer, hidden size, batch size")
    ax.set_ylabel("training samples/s, best thread count (log scale)")
    ax.set_title("784-H-10 sigmoid MLP, synthetic MNIST")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def summary(
    args: argparse.Namespace, frame: pd.DataFrame, peaks: dict[int, float], rss: pd.DataFrame, notes: list[str]
) -> str:
    """The Markdown summary printed at the end and written to bench.md."""
    busy = frame[frame["background_cpus"] > BUSY_CPUS]
    if not busy.empty:
        notes = [
            *notes,
            f"{len(busy)} of {len(frame)} rows were measured while other processes kept more than"
            f" {BUSY_CPUS} CPU busy (up to {busy['background_cpus'].max():.2f}; column background_cpus of"
            f" bench.csv) even after {RETRIES} retries: their times, above all at 2 threads, are not"
            " trustworthy",
        ]
    optimizers = list(frame["optimizer"].unique())
    settings = [
        f"{name} " + ", ".join(f"{key} {value:g}" for key, value in OPTIMIZERS[name].SETTINGS.items())
        for name in optimizers
        if OPTIMIZERS[name].SETTINGS
    ]
    warmup, epochs = rounds(args, 1)
    per_sample = ""
    if (frame["batch"] == 1).any() and (warmup, epochs) != (args.warmup, args.epochs):
        per_sample = f" (batch-1 rows, one step per sample: {epochs} timed after {warmup} warm-up)"
    digits = {"sec_per_epoch": 4, "samples_per_s": 0, "gflops": 2, "pct_of_peak": 1, "ratio_vs_nnexp": 2}
    shown = frame[COLUMNS].round(digits)
    lines = [
        "# nnexp training-speed benchmark",
        "",
        f"Command: `{' '.join(['python -m nnexp.bench', *args.argv])}`",
        "",
        f"Machine: {environment()}.",
        "",
        f"Code: nnexp {git_revision()}.",
        "",
        f"{args.samples} training samples; each time is the median of {args.epochs} timed epoch(s)"
        f" after {args.warmup} warm-up epoch(s){per_sample}. Batch `{FULL_BATCH}`: one step per epoch over the"
        " whole training set. Learning rates (they do not change the time of an epoch): "
        + ", ".join(f"{name} {LEARNING_RATES[name]}" for name in optimizers)
        + "; other settings, nnexp's defaults and the same in every implementation: "
        + ("; ".join(settings) or "none")
        + ".",
        "",
        "Float32 matmul peak (2048 x 2048 @ 2048 x 2048, best of 5): "
        + ", ".join(f"{peaks[t]:.1f} GFLOP/s at {t} thread(s)" for t in sorted(peaks))
        + ". GFLOP/s count the nominal 6 n (784 H + 10 H) FLOPs per epoch (optimizer updates not counted); no"
        " implementation computes the input-layer gradient, so the work really done is about 2/3 of that and"
        " pct_of_peak can exceed 100.",
        "",
        shown.to_markdown(index=False),
        "",
        "## Targets",
        "",
        *(f"- {line}" for line in evaluate_targets(frame)),
        "",
        "## Memory per worker",
        "",
        f"Two spawned workers each load the same data set through `load_dataset` ({args.samples} training"
        " images written as IDX files) and read all its training pixels; peak RSS counts shared file pages in"
        " full, PSS (proportional set size) splits each shared page between its sharers:",
        "",
        rss.round(1).to_markdown(index=False),
    ]
    if notes:
        lines += ["", "## Notes", "", *(f"- {note}" for note in notes)]
    return "\n".join(lines) + "\n"
