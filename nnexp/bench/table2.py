"""Which training protocol do write-up 000's Table 2 times point to? The write-up baseline under candidate protocols.

Write-up 000 publishes the training time (s) of its 784-H-10 network (SGD at rate 0.1, softmax cross-entropy) for
the hidden activations sigmoid, relu, tanh and H = 32, 64, 128, 256, without hardware, epochs or batch size. Only
the table's shape can be compared: how time grows with H and how the activations rank. This times the write-up
NumPy baseline (:func:`nnexp.bench.implementations.epochs_numpy_writeup`, float64, samples as columns) at the 12
cells under each candidate protocol, a batch size (1: per-sample SGD, 64, ``full``: full-batch gradient descent)
times a BLAS thread count (1, 2), on the benchmark's synthetic MNIST-shaped data.

A measurement trains a fresh network on the first ``samples`` rows (default 2,000 at batch 1, 60,000 otherwise;
with ``--samples`` the same for every protocol, and a full batch is then that many rows) and is scaled to an
epoch of 60,000 samples. In each repeat every protocol's cells run in a new random order, so a slow spell of the
machine hits all cells alike; the median over repeats is kept. The machine is not waited on to be quiet (other
processes' CPU use is recorded), so run it on an idle machine for the cleanest numbers.

Each protocol is fitted to the published table with one factor c (hardware, epochs): log c is the mean of
log(published / ours), and the residual is the RMS of the log residuals, shown as exp(rms) - 1. The protocol
with the smallest residual is the one the published times point to, if that residual is at most
:data:`FIT_RMS` (15 %: the protocols' 256/32 ratios differ by factors of 1.5 or more, while timing noise and
hardware differences, BLAS and caches, easily reach 10 %); otherwise none fits. The 256/32 ratios and the
activation order at each H are reported beside it, and a caution when a cell's repeats differ by more than the
smallest gap between two activations in the published table (10 %): the order then cannot be read.
Output (``--out``, default ``outputs/bench-table2/``): ``table2.csv``, ``protocols.csv``, ``table2.md``.

    python -m nnexp.bench.table2            # 6 protocols x 12 cells x 3 repeats (15-22 min on a busy 2-CPU machine)
    python -m nnexp.bench.table2 --batch 1,64 --threads 1 --samples 500 --repeats 1 --out /tmp/t2
    python -m nnexp.bench.table2 --refit --out /tmp/t2   # fit the table2.csv there again, time nothing
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from nnexp.bench.cli import batch_sizes, positive_ints
from nnexp.bench.grid import FULL_BATCH, POOL_IDLE
from nnexp.bench.implementations import epochs_numpy_writeup
from nnexp.bench.machine import background_load, environment, reuse_freed_memory, thread_limit
from nnexp.bench.synthetic import SEED, synthetic_splits
from nnexp.data import Splits
from nnexp.report.published import load_published

try:
    from nnexp.resources import published_table
except ImportError:  # a tree without the resolver of installed copies: the path as given
    published_table = Path

PUBLISHED = "experiments/000_table2_training_time.csv"
EPOCH_SAMPLES = 60_000  # MNIST's training set: every time is given per epoch of this many samples
PER_SAMPLE_SAMPLES = 2_000  # samples per batch-1 measurement unless --samples (an epoch takes minutes)
FIT_RMS = 0.15  # a protocol fits when its cells are within about 15 % of the published ones after one factor
PROTOCOL_COLUMNS = ["protocol", "batch", "threads"]
CELL_COLUMNS = ["activation", "hidden"]


def protocol_name(batch: int | str, threads: int) -> str:
    """``"batch 64, 2 threads"`` style label of a protocol."""
    return f"batch {batch}, {threads} thread{'s' if threads > 1 else ''}"


def samples_for(batch: int | str, samples: int | None) -> int:
    """Samples per measurement at ``batch``: ``samples`` if given, else 2,000 at batch 1 and 60,000 otherwise."""
    if samples is not None:
        return samples
    return PER_SAMPLE_SAMPLES if batch == 1 else EPOCH_SAMPLES


def measure(data: Splits, activation: str, hidden: int, batch: int | str, threads: int) -> tuple[float, float]:
    """Seconds per epoch of 60,000 samples of the baseline on ``data`` (x_train : (n, 784)), and the CPUs
    other processes kept busy meanwhile: one epoch over its n rows from a fresh network, scaled by 60,000 / n."""
    epochs = epochs_numpy_writeup(data, hidden, None if batch == FULL_BATCH else batch, "sgd", activation)
    with thread_limit(threads), background_load() as background:
        seconds = next(epochs)
    return seconds * EPOCH_SAMPLES / len(data.y_train), background["cpus"]


def time_cells(
    data: Splits, cells: list[tuple[str, int]], protocols: list[tuple[int | str, int]], samples, repeats: int
) -> pd.DataFrame:
    """One row per protocol and cell: the median seconds per epoch over ``repeats`` (columns of table2.csv).

    ``cells`` are (activation, hidden), ``protocols`` (batch, threads); ``samples`` is ``--samples`` or None.
    Every repeat runs each protocol's cells in a new random order.
    """
    rng = np.random.default_rng(SEED)
    runs = []
    total, done, previous_threads = repeats * len(protocols) * len(cells), 0, 1
    for repeat in range(repeats):
        for batch, threads in protocols:
            n = samples_for(batch, samples)
            subset = dataclasses.replace(data, x_train=data.x_train[:n], y_train=data.y_train[:n])
            for i in rng.permutation(len(cells)):
                activation, hidden = cells[i]
                if max(threads, previous_threads) > 1:
                    time.sleep(POOL_IDLE)  # let the previous BLAS pool stop spinning
                seconds, busy = measure(subset, activation, hidden, batch, threads)
                previous_threads, done = threads, done + 1
                runs.append((protocol_name(batch, threads), batch, threads, activation, hidden, seconds, busy, n))
            print(f"[{done}/{total}] repeat {repeat + 1}: {protocol_name(batch, threads)} timed", flush=True)
    frame = pd.DataFrame(
        runs, columns=[*PROTOCOL_COLUMNS, *CELL_COLUMNS, "seconds", "background_cpus", "samples"]
    ).astype({"batch": str})
    groups = frame.groupby([*PROTOCOL_COLUMNS, *CELL_COLUMNS], sort=False)
    table = groups.agg(
        seconds_per_epoch=("seconds", "median"),
        repeats=("seconds", "size"),
        spread_pct=("seconds", lambda s: 100 * (s.max() - s.min()) / s.median()),
        samples=("samples", "first"),
        background_cpus=("background_cpus", "mean"),
    ).reset_index()
    return table.sort_values(["protocol", "activation", "hidden"], key=_protocol_order(protocols), ignore_index=True)


def _protocol_order(protocols: list[tuple[int | str, int]]):
    """A sort key keeping the protocols in the order given and the other columns natural."""
    rank = {protocol_name(batch, threads): i for i, (batch, threads) in enumerate(protocols)}
    return lambda column: column.map(rank) if column.name == "protocol" else column


def ranks(seconds: pd.Series) -> pd.Series:
    """The rank of each activation at each hidden size, 0 the slowest: ``seconds`` indexed by (activation, hidden)."""
    return seconds.groupby(level="hidden").rank(ascending=False, method="first").astype(int) - 1


def fit_shape(ours: pd.Series, published: pd.Series) -> dict:
    """How well ``ours`` matches the shape of ``published``, both seconds indexed by (activation, hidden).

    ``factor`` c minimises the squared log residuals of published ~ c * ours (log c = mean log(published / ours));
    ``log_rms`` is the RMS of those residuals and ``rms_pct`` 100 (exp(log_rms) - 1). ``ratio_<hi>_<lo>_<act>``:
    our time at the largest H over the smallest, per activation. ``order_matches``: hidden sizes at which the
    activations rank as published; ``cells_in_order``: cells whose rank among the activations is the published one.
    """
    ours = ours.reindex(published.index)
    log_gap = np.log(published.to_numpy(float)) - np.log(ours.to_numpy(float))
    log_c = float(np.mean(log_gap))
    log_rms = float(np.sqrt(np.mean((log_gap - log_c) ** 2)))
    result = {"factor": math.exp(log_c), "log_rms": log_rms, "rms_pct": 100 * math.expm1(log_rms)}
    sizes = sorted(published.index.get_level_values("hidden").unique())
    for activation in published.index.get_level_values("activation").unique():
        result[f"ratio_{sizes[-1]}_{sizes[0]}_{activation}"] = ours[activation, sizes[-1]] / ours[activation, sizes[0]]
    same = ranks(ours) == ranks(published)
    result["order_matches"] = int(same.groupby(level="hidden").all().sum())
    result["cells_in_order"] = int(same.sum())
    result["order"] = "; ".join(f"{h}: {_order(ours.xs(h, level='hidden'))}" for h in sizes)
    return result


def _order(seconds: pd.Series) -> str:
    """``"tanh > sigmoid > relu"``: the activations from slowest to fastest (``seconds`` indexed by activation)."""
    return " > ".join(seconds.sort_values(ascending=False).index)


def compare(table: pd.DataFrame, published: pd.Series) -> pd.DataFrame:
    """One row per protocol of ``table`` (table2.csv's rows): :func:`fit_shape`, the median ``spread_pct`` of its
    cells' repeats (when ``table`` has it) and a verdict."""
    rows = []
    for (name, batch, threads), cells in table.groupby(PROTOCOL_COLUMNS, sort=False):
        ours = cells.set_index(CELL_COLUMNS)["seconds_per_epoch"]
        spread = {"spread_pct": cells["spread_pct"].median()} if "spread_pct" in cells else {}
        rows.append({"protocol": name, "batch": batch, "threads": threads, **fit_shape(ours, published), **spread})
    protocols = pd.DataFrame(rows)
    best = protocols["log_rms"].idxmin()
    fits = protocols["log_rms"] <= math.log1p(FIT_RMS)
    protocols["verdict"] = np.where(fits, "fits", "poor")
    protocols.loc[best, "verdict"] = "best fit" if fits[best] else "best, but poor"
    return protocols


def published_seconds(path: str | Path) -> pd.Series:
    """The published table's seconds indexed by (activation, hidden), in its own order."""
    table = load_published(published_table(path))
    return table.astype({"hidden": int}).set_index(CELL_COLUMNS)["value"]


def smallest_gap(published: pd.Series) -> float:
    """The smallest relative gap, in %, between two activations adjacent in time at one hidden size of ``published``
    (seconds indexed by (activation, hidden)): timings noisier than this cannot show the published order."""
    gaps = published.groupby(level="hidden").apply(lambda s: (s.sort_values().pct_change()).min())
    return float(100 * gaps.min())


def _markdown(frame: pd.DataFrame) -> str:
    """A Markdown table of ``frame`` (floats with 3 significant digits)."""
    cells = [[f"{v:.3g}" if isinstance(v, float) else str(v) for v in row] for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def summary(table: pd.DataFrame, protocols: pd.DataFrame, published: pd.Series, notes: list[str]) -> str:
    """table2.md: the published shape, the protocols' fits, the best protocol's cells and one paragraph naming it."""
    reference = fit_shape(published, published)
    ratio_columns = [c for c in protocols.columns if c.startswith("ratio_")]
    hi, lo = ratio_columns[0].split("_")[1:3]
    activations = [c.split("_", 3)[3] for c in ratio_columns]
    published_ratios = ", ".join(f"{act} {reference[c]:.2f}" for act, c in zip(activations, ratio_columns))
    columns = ["protocol", "factor", "rms_pct", *ratio_columns, "order_matches", "cells_in_order", "spread_pct"]
    shown = protocols[[*columns, "verdict"]]
    shown = shown.rename(columns={c: f"{hi}/{lo} {act}" for act, c in zip(activations, ratio_columns)})
    best = protocols.loc[protocols["log_rms"].idxmin()]
    cells = table[table["protocol"] == best["protocol"]].set_index(CELL_COLUMNS)["seconds_per_epoch"]
    side = pd.DataFrame({"published": published, "ours x factor": cells.reindex(published.index) * best["factor"]})
    side = side.unstack("activation").swaplevel(axis=1)[activations]  # each activation's two columns side by side
    side.columns = [f"{act} {what}" for act, what in side.columns]
    side = side.reset_index()
    limit = f"{100 * FIT_RMS:.0f} %"
    if best["verdict"] == "best fit":
        verdict = (
            f"The published times point to **{best['protocol']}**: after one factor ({best['factor']:.3g}) its cells"
            f" are within {best['rms_pct']:.1f} % (RMS) of the published ones, at most the {limit} a fit may be."
        )
    else:
        verdict = (
            f"**No protocol fits** the published times: the closest, {best['protocol']}, is off by"
            f" {best['rms_pct']:.1f} % (RMS) after one factor, more than the {limit} a fit may be."
        )
    ours_ratios = ", ".join(f"{act} {best[c]:.2f}" for act, c in zip(activations, ratio_columns))
    n_hidden = published.index.get_level_values("hidden").nunique()
    verdict += (
        f" Its {hi}/{lo} ratios are {ours_ratios} (published {published_ratios}); the activations rank as"
        f" published at {best['order_matches']} of {n_hidden} hidden sizes ({best['cells_in_order']} of"
        f" {len(published)} cells in their published rank; ours: {best['order']})."
    )
    gap, repeats = smallest_gap(published), int(table["repeats"].max())
    if repeats == 1:
        verdict += " With 1 repeat the timing noise is unknown: rerun with --repeats 3 or more."
    elif best["spread_pct"] > gap:
        verdict += (
            f" Caution: its cells' repeats differ by {best['spread_pct']:.0f} % (median of (max - min) / median),"
            f" more than the smallest gap between two activations in the published table ({gap:.0f} %), so the"
            " activation order cannot be read from these timings and the residuals are inflated by noise:"
            " rerun on an idle machine."
        )
    lines = [
        "# Write-up 000 Table 2: which protocol do the published times point to?",
        "",
        "The write-up NumPy baseline (float64, samples as columns) at the published cells under each protocol,"
        f" in seconds per epoch of {EPOCH_SAMPLES:,} samples (medians of {int(table['repeats'].max())} repeat(s)),"
        f" fitted to the published table with one factor. Published: {hi}/{lo} ratios {published_ratios};"
        f" order {reference['order']}. spread_pct: the median over a protocol's cells of (max - min) / median of"
        " its repeats.",
        "",
        _markdown(shown),
        "",
        verdict,
        "",
        f"Cells of {best['protocol']} (ours times its factor) beside the published ones (s):",
        "",
        _markdown(side),
        "",
        f"Machine: {environment()}. Other processes kept {table['background_cpus'].mean():.2f} CPUs busy on"
        f" average while the cells were timed; the median spread (max - min) / median of a cell's repeats was"
        f" {table['spread_pct'].median():.0f} %.",
        *(f"- {note}" for note in notes),
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m nnexp.bench.table2", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--batch", type=batch_sizes, default=[1, 64, FULL_BATCH], help=f"batch sizes (default 1,64,{FULL_BATCH})"
    )
    parser.add_argument("--threads", type=positive_ints, default=[1, 2], help="BLAS thread counts (default 1,2)")
    parser.add_argument(
        "--samples",
        type=int,
        help=f"samples per measurement for every protocol (default {PER_SAMPLE_SAMPLES:,} at batch 1,"
        f" {EPOCH_SAMPLES:,} otherwise)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="measurements per cell, median kept (default 3)")
    parser.add_argument("--published", default=PUBLISHED, help=f"the published table (default {PUBLISHED})")
    parser.add_argument(
        "--out", type=Path, default=Path("outputs/bench-table2"), help="output folder (default outputs/bench-table2)"
    )
    parser.add_argument(
        "--refit",
        action="store_true",
        help="time nothing: fit the table2.csv in --out again, rewrite the rest",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or (args.samples is not None and args.samples < 1):
        parser.error("--repeats and --samples must be >= 1")
    return args


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Time the cells, fit every protocol, write table2.csv, protocols.csv and table2.md, print the summary."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    published = published_seconds(args.published)
    notes = []
    if args.refit:
        table = pd.read_csv(args.out / "table2.csv", dtype={"batch": str})
    else:
        if not reuse_freed_memory():
            notes.append("freed memory could not be kept in the process (not glibc): page faults may add noise")
        protocols = [(batch, threads) for batch in args.batch for threads in args.threads]
        data = synthetic_splits(max(samples_for(batch, args.samples) for batch in args.batch))
        table = time_cells(data, list(published.index), protocols, args.samples, args.repeats)
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out / "table2.csv", index=False)
    fits = compare(table, published)
    fits.to_csv(args.out / "protocols.csv", index=False)
    text = summary(table, fits, published, notes)
    (args.out / "table2.md").write_text(text)
    print(text)
    return fits


if __name__ == "__main__":
    main()
