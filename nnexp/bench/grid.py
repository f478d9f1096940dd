"""The timing grid: every implementation, epoch by epoch in turns, for each optimizer, hidden size, batch size and
thread count."""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Iterator
from functools import partial

import numpy as np
import pandas as pd

from nnexp.bench.implementations import EPOCHS, OPTIMIZERS_OF
from nnexp.bench.machine import quietly, thread_limit
from nnexp.bench.synthetic import N_CLASSES, N_FEATURES
from nnexp.data import Splits

COLUMNS = [
    "impl",
    "optimizer",
    "hidden",
    "batch",
    "threads",
    "sec_per_epoch",
    "samples_per_s",
    "gflops",
    "pct_of_peak",
    "ratio_vs_nnexp",
]
POOL_IDLE = 0.25
FULL_BATCH = "full"  # the batch of a full-batch row: one step per epoch over the whole training set
SETTING = ["optimizer", "hidden", "batch", "threads"]  # the columns that name one turn-taking group


def settings(args: argparse.Namespace) -> list[tuple[str, int, int | str, int]]:
    """Every (optimizer, hidden, batch, threads) of the grid once, in order.

    ``args.grid`` is a list of blocks, each a dict of ``optimizer``, ``hidden`` and ``batch`` lists
    (a batch is a positive int or :data:`FULL_BATCH`); the grid is each block's product with ``args.threads``.
    """
    found = {}
    for block in args.grid:
        for setting in itertools.product(block["optimizer"], block["hidden"], block["batch"], args.threads):
            found[setting] = None
    return list(found)


def rounds(args: argparse.Namespace, batch: int | str) -> tuple[int, int]:
    """Warm-up and timed epochs at ``batch``: batch-1 settings have their own (``args.per_sample``)."""
    return args.per_sample if batch == 1 else (args.warmup, args.epochs)


def lacking(args: argparse.Namespace) -> dict[str, list[str]]:
    """The optimizers of the grid each implementation of ``args.impl`` has not, and is skipped for."""
    optimizers = list(dict.fromkeys(setting[0] for setting in settings(args)))
    missing = {impl: [name for name in optimizers if name not in OPTIMIZERS_OF[impl]] for impl in args.impl}
    return {impl: names for impl, names in missing.items() if names}


def flops_per_epoch(samples: int, hidden: int) -> float:
    """Nominal FLOPs of one epoch: forward 2 m (784 H + 10 H), backward twice the forward.

    The backward pass computes no gradient for the input layer, so the matmul work really
    done is about 2/3 of this: ``pct_of_peak`` can exceed 100.
    """
    return 3 * 2 * samples * (N_FEATURES * hidden + hidden * N_CLASSES)


def one_round(epochs: dict[str, Iterator[float]], order: list[str], threads: int) -> dict[str, float]:
    """One more epoch of every implementation, in ``order``, each with ``threads`` threads.

    Between two implementations the process sleeps for ``POOL_IDLE`` seconds: BLAS and OpenMP
    worker threads keep spinning for a while after their last call (OpenBLAS about 0.1 s),
    and would otherwise take CPU time from the next implementation's threads.
    """
    seconds = {}
    for impl in order:
        time.sleep(POOL_IDLE)
        with thread_limit(threads):
            seconds[impl] = next(epochs[impl])
    return seconds


def run_grid(data: Splits, args: argparse.Namespace, peaks: dict[int, float]) -> pd.DataFrame:
    """One row per implementation, optimizer, hidden size, batch size and thread count (medians of timed epochs).

    For each (optimizer, hidden, batch, threads) of :func:`settings` the implementations that have the
    optimizer take turns, one epoch each per round and in a rotating order, so that a slow spell of the
    machine hits all of them alike; a round during which other processes kept the CPUs busy is run again
    (see :func:`quietly`). ``data.x_train`` : (n, 784), ``data.y_train`` : (n,); ``peaks`` maps each thread
    count to its matmul peak in GFLOP/s.
    """
    n = len(data.y_train)
    grid = settings(args)
    rows = []
    for i, (optimizer, hidden, batch, threads) in enumerate(grid, 1):
        impls = [impl for impl in args.impl if optimizer in OPTIMIZERS_OF[impl]]
        label = f"[{i}/{len(grid)}] {optimizer} H={hidden} batch={batch} threads={threads}:"
        if not impls:
            print(f"{label} skipped (no implementation of --impl has {optimizer})", flush=True)
            continue
        size = None if batch == FULL_BATCH else batch
        epochs = {impl: EPOCHS[impl](data, hidden, size, optimizer) for impl in impls}
        timed: dict[str, list[float]] = {impl: [] for impl in impls}
        busiest = 0.0
        warmup, timed_epochs = rounds(args, batch)
        for r in range(warmup + timed_epochs):
            order = impls[r % len(impls) :] + impls[: r % len(impls)]
            seconds, background = quietly(partial(one_round, epochs, order, threads))
            if r >= warmup:
                busiest = max(busiest, background)
                for impl, sec in seconds.items():
                    timed[impl].append(sec)
        medians = {impl: float(np.median(seconds)) for impl, seconds in timed.items()}
        for impl, sec in medians.items():
            gflops = flops_per_epoch(n, hidden) / sec / 1e9
            rows.append(
                {
                    "impl": impl,
                    "optimizer": optimizer,
                    "hidden": hidden,
                    "batch": batch,
                    "threads": threads,
                    "sec_per_epoch": sec,
                    "samples_per_s": n / sec,
                    "gflops": gflops,
                    "pct_of_peak": 100 * gflops / peaks[threads],
                    "background_cpus": busiest,
                }
            )
        times = ", ".join(f"{impl} {sec:.3f}" for impl, sec in medians.items())
        skipped = "".join(f", {impl} skipped (no {optimizer})" for impl in args.impl if impl not in impls)
        print(
            f"{label} {times} s/epoch{skipped} (other processes used up to {busiest:.2f} CPUs)",
            flush=True,
        )
    frame = pd.DataFrame(rows)
    nnexp = frame[frame["impl"] == "nnexp"].set_index(SETTING)["sec_per_epoch"]
    keys = pd.MultiIndex.from_frame(frame[SETTING])
    frame["ratio_vs_nnexp"] = frame["sec_per_epoch"].to_numpy() / nnexp.reindex(keys).to_numpy()
    return frame[[*COLUMNS, "background_cpus"]]
