"""The timing grid: every implementation, epoch by epoch in turns, for each hidden size, batch size and thread count."""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Iterator
from functools import partial

import numpy as np
import pandas as pd

from nnexp.bench.implementations import EPOCHS
from nnexp.bench.machine import quietly, thread_limit
from nnexp.bench.synthetic import N_CLASSES, N_FEATURES
from nnexp.data import Splits

COLUMNS = [
    "impl",
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
    """One row per implementation, hidden size, batch size and thread count (medians of timed epochs).

    For each (hidden, batch, threads) the implementations take turns, one epoch each per round and
    in a rotating order, so that a slow spell of the machine hits all of them alike; a round during
    which other processes kept the CPUs busy is run again (see :func:`quietly`). ``data.x_train`` : (n, 784),
    ``data.y_train`` : (n,); ``peaks`` maps each thread count to its matmul peak in GFLOP/s.
    """
    n = len(data.y_train)
    settings = list(itertools.product(args.hidden, args.batch, args.threads))
    rows = []
    for i, (hidden, batch, threads) in enumerate(settings, 1):
        epochs = {impl: EPOCHS[impl](data, hidden, batch) for impl in args.impl}
        timed: dict[str, list[float]] = {impl: [] for impl in args.impl}
        busiest = 0.0
        for r in range(args.warmup + args.epochs):
            order = args.impl[r % len(args.impl) :] + args.impl[: r % len(args.impl)]
            seconds, background = quietly(partial(one_round, epochs, order, threads))
            if r >= args.warmup:
                busiest = max(busiest, background)
                for impl, sec in seconds.items():
                    timed[impl].append(sec)
        medians = {impl: float(np.median(seconds)) for impl, seconds in timed.items()}
        for impl, sec in medians.items():
            gflops = flops_per_epoch(n, hidden) / sec / 1e9
            rows.append(
                {
                    "impl": impl,
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
        print(
            f"[{i}/{len(settings)}] H={hidden} batch={batch} threads={threads}: {times} s/epoch"
            f" (other processes used up to {busiest:.2f} CPUs)",
            flush=True,
        )
    frame = pd.DataFrame(rows)
    nnexp = frame[frame["impl"] == "nnexp"].set_index(["hidden", "batch", "threads"])["sec_per_epoch"]
    keys = pd.MultiIndex.from_frame(frame[["hidden", "batch", "threads"]])
    frame["ratio_vs_nnexp"] = frame["sec_per_epoch"].to_numpy() / nnexp.reindex(keys).to_numpy()
    return frame[[*COLUMNS, "background_cpus"]]
