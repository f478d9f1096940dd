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
import ctypes
import itertools
import multiprocessing
import os
import platform
import queue
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_info, threadpool_limits

from nnexp.data import DataConfig, Preprocess, Splits, load_dataset
from nnexp.data.idx import IDX_FILES, write_idx
from nnexp.model import MLP
from nnexp.model.blas import fused_update_available
from nnexp.sweep.provenance import git_revision
from nnexp.training import train

IMPLS = ("nnexp", "numpy_writeup", "torch", "sklearn")
N_FEATURES, N_CLASSES, LR, SEED = 784, 10, 0.1, 0
EVAL_ROWS = 1_000
FULL = {"hidden": [32, 128, 256], "batch": [64, 256], "threads": [1, 2], "epochs": 3, "warmup": 2}
QUICK = {**FULL, "hidden": [128, 256], "batch": [64], "epochs": 2}
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
BUSY_CPUS, RETRIES, QUIET_WAIT, POOL_IDLE = 0.2, 2, 60.0, 0.25
T = TypeVar("T")
SPEED_TARGETS = {"a": ("torch", 1.5), "b": ("sklearn", 2.0), "d": ("numpy_writeup", 2.5)}


# --- data ---------------------------------------------------------------------------------


def synthetic_pixels(n: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """``n`` MNIST-shaped images (uint8 rows of 784 pixels) and labels 0..9.

    Each class brightens its own band of pixels, so the labels can be learnt.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, size=n).astype(np.intp)
    pixels = rng.integers(0, 256, size=(n, N_FEATURES), dtype=np.uint8)
    band = N_FEATURES // N_CLASSES
    for label in range(N_CLASSES):
        pixels[y == label, label * band : (label + 1) * band] |= 0x80
    return pixels, y


def synthetic_splits(samples: int = 60_000, seed: int = SEED) -> Splits:
    """Synthetic splits scaled to [0, 1] as a run scales them: ``samples`` training rows, 1,000 validation
    and 1,000 test rows."""
    pixels, y = synthetic_pixels(samples + 2 * EVAL_ROWS, seed)
    unit = Preprocess(pixel_max=255.0)
    x = unit(pixels)
    train, val, test = slice(samples), slice(samples, samples + EVAL_ROWS), slice(samples + EVAL_ROWS, None)
    return Splits(
        name="synthetic",
        x_train=x[train],
        y_train=y[train],
        x_val=x[val],
        y_val=y[val],
        x_test=x[test],
        y_test=y[test],
        preprocess=unit,
        n_classes=N_CLASSES,
    )


# --- implementations: each yields the seconds of one more epoch at every next() -----------


def epochs_nnexp(data: Splits, hidden: int, batch: int) -> Iterator[float]:
    """nnexp's own trainer; ``epoch_seconds`` excludes the per-epoch evaluation."""
    rng = np.random.default_rng(SEED)
    model = MLP.initialise([N_FEATURES, hidden, N_CLASSES], "sigmoid", "xavier", rng, dtype=np.float32)
    while True:
        rows: list[dict] = []
        train(model, data, epochs=1, batch_size=batch, lr=LR, rng=rng, on_epoch=rows.append)
        yield rows[0]["epoch_seconds"]


def epochs_numpy_writeup(data: Splits, hidden: int, batch: int) -> Iterator[float]:
    """BASELINE: the blog write-ups' NumPy code, kept as they write it.

    float64, samples as columns (X is features x samples, W is out x in, Z = W @ X + b),
    one-hot targets, new arrays at every step, the data reshuffled every epoch.
    """
    rng = np.random.default_rng(SEED)
    X = data.x_train.T.astype(np.float64)
    Y = np.eye(N_CLASSES)[data.y_train].T
    n = X.shape[1]
    W1 = rng.standard_normal((hidden, N_FEATURES)) * np.sqrt(1 / N_FEATURES)
    b1 = np.zeros((hidden, 1))
    W2 = rng.standard_normal((N_CLASSES, hidden)) * np.sqrt(1 / hidden)
    b2 = np.zeros((N_CLASSES, 1))
    while True:
        start = time.perf_counter()
        permutation = rng.permutation(n)
        X_shuffled, Y_shuffled = X[:, permutation], Y[:, permutation]
        for k in range(0, n, batch):
            Xb, Yb = X_shuffled[:, k : k + batch], Y_shuffled[:, k : k + batch]
            m = Xb.shape[1]
            Z1 = W1 @ Xb + b1
            A1 = 1 / (1 + np.exp(-Z1))
            Z2 = W2 @ A1 + b2
            E = np.exp(Z2 - Z2.max(axis=0, keepdims=True))
            A2 = E / E.sum(axis=0, keepdims=True)
            dZ2 = A2 - Yb
            dW2 = dZ2 @ A1.T / m
            db2 = dZ2.sum(axis=1, keepdims=True) / m
            dZ1 = (W2.T @ dZ2) * A1 * (1 - A1)
            dW1 = dZ1 @ Xb.T / m
            db1 = dZ1.sum(axis=1, keepdims=True) / m
            W1, b1, W2, b2 = W1 - LR * dW1, b1 - LR * db1, W2 - LR * dW2, b2 - LR * db2
        yield time.perf_counter() - start


def epochs_torch(data: Splits, hidden: int, batch: int) -> Iterator[float]:
    """PyTorch on the CPU: nn.Sequential, CrossEntropyLoss, SGD without momentum, float32."""
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train.astype(np.int64))
    model = nn.Sequential(nn.Linear(N_FEATURES, hidden), nn.Sigmoid(), nn.Linear(hidden, N_CLASSES))
    loss_fn = nn.CrossEntropyLoss()
    optimiser = torch.optim.SGD(model.parameters(), lr=LR, momentum=0)
    while True:
        start = time.perf_counter()
        permutation = torch.randperm(len(y))
        for k in range(0, len(y), batch):
            idx = permutation[k : k + batch]
            optimiser.zero_grad(set_to_none=True)
            loss_fn(model(x.index_select(0, idx)), y.index_select(0, idx)).backward()
            optimiser.step()
        yield time.perf_counter() - start


def epochs_sklearn(data: Splits, hidden: int, batch: int) -> Iterator[float]:
    """scikit-learn's MLPClassifier, one ``fit`` call (warm start, ``max_iter=1``) per epoch."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=(hidden,),
        activation="logistic",
        solver="sgd",
        momentum=0,
        nesterovs_momentum=False,
        learning_rate_init=LR,
        learning_rate="constant",
        batch_size=batch,
        alpha=0,
        shuffle=True,
        max_iter=1,
        warm_start=True,
        tol=0,
        n_iter_no_change=10**9,
        random_state=SEED,
    )
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            clf.fit(data.x_train, data.y_train)
            seconds = time.perf_counter() - start
        yield seconds


EPOCHS: dict[str, Callable[[Splits, int, int], Iterator[float]]] = {
    "nnexp": epochs_nnexp,
    "numpy_writeup": epochs_numpy_writeup,
    "torch": epochs_torch,
    "sklearn": epochs_sklearn,
}


# --- measuring ----------------------------------------------------------------------------


@contextmanager
def thread_limit(threads: int):
    """At most ``threads`` threads in the BLAS/OpenMP pools and, once imported, PyTorch's pool."""
    torch = sys.modules.get("torch")
    previous = torch.get_num_threads() if torch else None
    with threadpool_limits(limits=threads):
        if torch:
            torch.set_num_threads(threads)
        try:
            yield
        finally:
            if torch:
                torch.set_num_threads(previous)


def reuse_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory in the process (no mmap for big blocks, no trimming).

    The write-up baseline and scikit-learn allocate a shuffled copy of the training set every
    epoch. Memory handed back to the kernel and touched again can cost a fault per page, and on
    a virtual machine (where this was seen) touching memory that is new to the guest is slow:
    a fresh 376 MB array once took 0.67 s to fill, later ones 0.02 s, which swung the baseline
    between 0.6 and 1.4 s per epoch. Reusing the process's own freed memory removes that noise
    for all implementations alike (nnexp allocates nothing per epoch). False where not glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_max = -1, -4  # from glibc's malloc.h
        return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 2**31 - 1))
    except (OSError, AttributeError):
        return False


def matmul_peak(threads: int, size: int = 2048, repeats: int = 5) -> float:
    """Best GFLOP/s of a float32 (size x size) @ (size x size) matmul with ``threads`` threads."""
    rng = np.random.default_rng(SEED)
    a, b = rng.random((size, size), dtype=np.float32), rng.random((size, size), dtype=np.float32)
    out = np.empty_like(a)
    best = np.inf
    with thread_limit(threads):
        np.matmul(a, b, out=out)
        for _ in range(repeats):
            start = time.perf_counter()
            np.matmul(a, b, out=out)
            best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def small_matmul_speedup(threads: int, hidden: int = 128, batch: int = 64, calls: int = 500) -> float:
    """How much faster a step-sized float32 matmul (batch x 784 @ 784 x hidden) runs on ``threads`` threads than on 1.

    Unlike the big-matmul peak, this depends on how fast the CPUs hand work to each other;
    on some virtual machines that varies over time, and with it every multi-thread row.
    """
    rng = np.random.default_rng(SEED)
    x, w = rng.random((batch, N_FEATURES), dtype=np.float32), rng.random((N_FEATURES, hidden), dtype=np.float32)
    out = np.empty((batch, hidden), np.float32)

    def seconds(n_threads: int) -> float:
        with thread_limit(n_threads):
            best = np.inf
            for _ in range(3):
                start = time.perf_counter()
                for _ in range(calls):
                    np.matmul(x, w, out=out)
                best = min(best, time.perf_counter() - start)
        return best

    return seconds(1) / seconds(threads)


def flops_per_epoch(samples: int, hidden: int) -> float:
    """Nominal FLOPs of one epoch: forward 2 m (784 H + 10 H), backward twice the forward.

    The backward pass computes no gradient for the input layer, so the matmul work really
    done is about 2/3 of this: ``pct_of_peak`` can exceed 100.
    """
    return 3 * 2 * samples * (N_FEATURES * hidden + hidden * N_CLASSES)


def _cpu_seconds() -> tuple[float, float, float]:
    """Wall clock, busy CPU seconds of the whole machine (/proc/stat, steal included), CPU seconds of this process."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
    times = os.times()
    return time.perf_counter(), busy / os.sysconf("SC_CLK_TCK"), times.user + times.system


@contextmanager
def background_load():
    """Yields a dict whose ``cpus`` is set on exit: the mean number of CPUs other processes kept busy."""
    result = {}
    wall, machine, own = _cpu_seconds()
    try:
        yield result
    finally:
        wall_end, machine_end, own_end = _cpu_seconds()
        result["cpus"] = max(0.0, (machine_end - machine) - (own_end - own)) / (wall_end - wall)


def wait_until_quiet() -> None:
    """Wait, at most ``QUIET_WAIT`` seconds, for half a second in which other processes use <= ``BUSY_CPUS``."""
    deadline = time.perf_counter() + QUIET_WAIT
    while time.perf_counter() < deadline:
        with background_load() as background:
            time.sleep(0.5)
        if background["cpus"] <= BUSY_CPUS:
            return


def quietly(task: Callable[[], T]) -> tuple[T, float]:
    """``task()`` run on a quiet machine, and the mean number of CPUs other processes used meanwhile.

    Run again, up to ``RETRIES`` times, while that exceeds ``BUSY_CPUS``; the quietest attempt is kept.
    """
    attempts = []
    for _ in range(RETRIES + 1):
        wait_until_quiet()
        with background_load() as background:
            result = task()
        attempts.append((result, background["cpus"]))
        if background["cpus"] <= BUSY_CPUS:
            break
    return min(attempts, key=lambda attempt: attempt[1])


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
    which other processes kept the CPUs busy is run again (see :func:`quietly`).
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


# --- reporting ----------------------------------------------------------------------------


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


def environment() -> str:
    """CPU count, NumPy and its BLAS libraries (with their kernels), how nnexp updates weights, PyTorch when loaded."""
    blas = ", ".join(
        f"{lib['internal_api']} {lib['version']} {lib.get('architecture', '')}".strip()
        for lib in threadpool_info()
        if lib["user_api"] == "blas"
    )
    torch = sys.modules.get("torch")
    update = "inside the BLAS gemm" if fused_update_available(np.float32) else "NumPy fallback"
    return (
        f"{os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()},"
        f" numpy {np.__version__} ({blas}; nnexp weight update: {update})"
        + (f", torch {torch.__version__}" if torch else "")
    )


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


# --- command line -------------------------------------------------------------------------


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


if __name__ == "__main__":
    main()
