"""Probes of the machine: thread limits, float32 matmul speed, CPU load of other processes, and the environment."""

from __future__ import annotations

import ctypes
import os
import platform
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from nnexp.bench.synthetic import N_FEATURES, SEED
from nnexp.model.blas import fused_update_available

BUSY_CPUS, RETRIES, QUIET_WAIT = 0.2, 2, 60.0
T = TypeVar("T")


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


def _cpu_seconds() -> tuple[float, float, float]:
    """Wall clock, busy CPU seconds of the whole machine (/proc/stat, steal included), CPU seconds of this process
    and of the child processes it waited for."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
    return time.perf_counter(), busy / os.sysconf("SC_CLK_TCK"), sum(os.times()[:4])


@contextmanager
def background_load():
    """Yields a dict whose ``cpus`` is set on exit: the mean number of CPUs that processes other than this one and
    the children it waited for kept busy meanwhile."""
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


def cpu_model() -> str:
    """The CPU's model name as Linux reports it (``/proc/cpuinfo``), else what ``platform`` knows: benchmark figures
    of one VM kind move with the host it lands on."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> str:
    """CPU count and model, NumPy and its BLAS libraries (with their kernels), how nnexp updates weights, PyTorch
    when loaded."""
    blas = ", ".join(
        f"{lib['internal_api']} {lib['version']} {lib.get('architecture', '')}".strip()
        for lib in threadpool_info()
        if lib["user_api"] == "blas"
    )
    torch = sys.modules.get("torch")
    update = "inside the BLAS gemm" if fused_update_available(np.float32) else "NumPy fallback"
    return (
        f"{os.cpu_count()} CPUs ({platform.machine()}, {cpu_model()}), Python {platform.python_version()},"
        f" numpy {np.__version__} ({blas}; nnexp weight update: {update})"
        + (f", torch {torch.__version__}" if torch else "")
    )
