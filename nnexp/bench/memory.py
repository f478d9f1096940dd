"""Memory of the data loading: peak RSS and PSS of worker processes that load the same data set."""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from nnexp.bench.synthetic import EVAL_ROWS, SEED, synthetic_pixels
from nnexp.data import DataConfig, Splits, load_dataset
from nnexp.data.idx import IDX_FILES, write_idx


def _status_mib(field: str) -> float:
    """A memory field of /proc/self/status (``VmRSS``, ``VmHWM``) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def _pss_mib() -> float:
    """Proportional set size of this process in MiB: shared pages count 1/n for each of n sharers."""
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    raise KeyError("Pss")


def _load_and_report(load: Callable[[], Splits], barrier, results: multiprocessing.Queue) -> None:
    """Worker body: load the data and read every training pixel, as a run does; then report its memory.

    The workers wait for each other before measuring, so pages they share are counted as shared.
    """
    before = _status_mib("VmRSS")
    data = load()
    float(np.asarray(data.x_train).sum(dtype=np.float64))
    barrier.wait()
    results.put(
        {"pid": os.getpid(), "rss_before_load_mib": before, "peak_rss_mib": _status_mib("VmHWM"), "pss_mib": _pss_mib()}
    )
    barrier.wait()
    del data


def worker_rss(load: Callable[[], object], workers: int = 2) -> pd.DataFrame:
    """Peak resident memory (MiB) of ``workers`` concurrent fresh processes that each call ``load()``.

    ``load`` must be picklable: a module-level function or a ``functools.partial`` of one,
    e.g. ``partial(nnexp.data.load_dataset, cfg)``. Peaks come from VmHWM (Linux), which
    a spawned process does not inherit from its parent, unlike ``ru_maxrss``.
    """
    context = multiprocessing.get_context("spawn")
    results, barrier = context.Queue(), context.Barrier(workers)
    processes = [context.Process(target=_load_and_report, args=(load, barrier, results)) for _ in range(workers)]
    for process in processes:
        process.start()
    rows = []
    while len(rows) < workers:
        try:
            rows.append(results.get(timeout=1))
        except queue.Empty:
            failed = [process.exitcode for process in processes if process.exitcode not in (None, 0)]
            if failed:
                raise RuntimeError(f"a worker loading the data failed (exit code {failed[0]})") from None
    for process in processes:
        process.join()
    return pd.DataFrame(rows)


def loader_memory(folder: Path, samples: int) -> pd.DataFrame:
    """Memory of two workers loading the same data set through ``load_dataset``, without and with the array cache.

    The synthetic images are written as IDX files into ``folder``; the cache is built once
    before the memory-mapped workers start, as the first run of a sweep builds it.
    """
    train_pixels, train_y = synthetic_pixels(samples, SEED)
    test_pixels, test_y = synthetic_pixels(EVAL_ROWS, SEED + 1)
    arrays = {
        "train_images": train_pixels.reshape(-1, 28, 28),
        "train_labels": train_y.astype(np.uint8),
        "test_images": test_pixels.reshape(-1, 28, 28),
        "test_labels": test_y.astype(np.uint8),
    }
    for role, array in arrays.items():
        write_idx(folder / IDX_FILES[role].removesuffix(".gz"), array)
    frames = []
    for mode, cached in (("decoded in each worker", False), ("memory-mapped cache", True)):
        cfg = DataConfig(name="mnist", root=str(folder), cache_dir=str(folder / "cache"), cache_arrays=cached)
        if cached:
            load_dataset(cfg)
        frames.append(worker_rss(partial(load_dataset, cfg)).assign(data=mode))
    return pd.concat(frames, ignore_index=True)[["data", "pid", "rss_before_load_mib", "peak_rss_mib", "pss_mib"]]
