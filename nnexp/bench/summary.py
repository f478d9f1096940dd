"""The benchmark's report: the targets nnexp is held to, the bar chart and the Markdown summary."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from nnexp.bench.grid import COLUMNS
from nnexp.bench.implementations import IMPLS
from nnexp.bench.machine import BUSY_CPUS, RETRIES, environment
from nnexp.sweep.provenance import git_revision

SPEED_TARGETS = {"a": ("torch", 1.5), "b": ("sklearn", 2.0), "d": ("numpy_writeup", 2.5)}


def _best(frame: pd.DataFrame, impl: str, hidden: int, batch: int) -> pd.Series | None:
    """The fastest row of ``impl`` at (hidden, batch) over thread counts, or None if not measured."""
    rows = frame[(frame["impl"] == impl) & (frame["hidden"] == hidden) & (frame["batch"] == batch)]
    return None if rows.empty else rows.loc[rows["sec_per_epoch"].idxmin()]


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def evaluate_targets(frame: pd.DataFrame) -> list[str]:
    """One line per target, PASS/FAIL with the measured figures (SKIP when not in the grid)."""
    lines = []
    ours = _best(frame, "nnexp", 128, 64)
    for key, (impl, goal) in SPEED_TARGETS.items():
        theirs = _best(frame, impl, 128, 64)
        what = f"({key}) nnexp >= {goal}x faster than {impl} at H=128 batch 64, best threads each:"
        if ours is None or theirs is None:
            lines.append(f"{what} SKIP (not measured)")
            continue
        speedup = theirs["sec_per_epoch"] / ours["sec_per_epoch"]
        figures = (
            f"nnexp {ours['sec_per_epoch']:.3f} s at {ours['threads']} thread(s), "
            f"{impl} {theirs['sec_per_epoch']:.3f} s at {theirs['threads']}"
        )
        lines.append(f"{what} {speedup:.2f}x ({figures}) {_verdict(speedup >= goal)}")
    nnexp = frame[frame["impl"] == "nnexp"]
    row = nnexp[(nnexp["hidden"] == 256) & (nnexp["batch"] == 64) & (nnexp["threads"] == 1)]
    what = "(c) nnexp >= 75% of the 1-thread float32 matmul peak at H=256 batch 64 1 thread:"
    if row.empty:
        lines.append(f"{what} SKIP (not measured)")
    else:
        pct, gflops = row["pct_of_peak"].iloc[0], row["gflops"].iloc[0]
        lines.append(f"{what} {pct:.1f}% ({gflops:.1f} GFLOP/s) {_verdict(pct >= 75)}")
    return sorted(lines)  # (a), (b), (c), (d)


def plot(frame: pd.DataFrame, path: Path) -> None:
    """Bar chart of samples/s per implementation, grouped by (hidden, batch), at each one's best thread count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = frame.loc[frame.groupby(["impl", "hidden", "batch"])["samples_per_s"].idxmax()]
    table = best.pivot_table(index=["hidden", "batch"], columns="impl", values="samples_per_s")
    table = table[[impl for impl in IMPLS if impl in table.columns]]
    fig, ax = plt.subplots(figsize=(1.6 * len(table) + 3, 4))
    table.plot.bar(ax=ax, logy=True, rot=0)
    ax.set_xlabel("(hidden, batch)")
    ax.set_ylabel("training samples/s, best thread count (log scale)")
    ax.set_title("784-H-10 sigmoid MLP, plain SGD, synthetic MNIST")
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
        f" after {args.warmup} warm-up epoch(s).",
        "",
        "Float32 matmul peak (2048 x 2048 @ 2048 x 2048, best of 5): "
        + ", ".join(f"{peaks[t]:.1f} GFLOP/s at {t} thread(s)" for t in sorted(peaks))
        + ". GFLOP/s count the"
        " nominal 6 n (784 H + 10 H) FLOPs per epoch; no implementation computes the input-layer gradient, so the"
        " work really done is about 2/3 of that and pct_of_peak can exceed 100.",
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
