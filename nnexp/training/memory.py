"""How much memory a run will take at its peak, before it starts, from its settings alone.

A run's resident memory is the interpreter and its libraries (:data:`BASE_BYTES`), the data, and
its own arrays: parameters, their gradients, the optimizer's state and scratch, the best weights
early stopping keeps, the copies a checkpoint takes, and the workspaces of a training batch and
of an evaluation chunk. Only the pages a run writes count: buffers it allocates but never fills
(dropout's ``kept`` without dropout, the deltas of an evaluation) are left out. The cached data
is memory-mapped, so parallel runs share one copy of it (:attr:`MemoryEstimate.shared`); without
the cache each run holds its own, and the raw pixels it decoded them from. What runs may use is the machine's
available memory, or less where a container's (cgroup's) limit leaves less (:func:`available_memory`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nnexp.errors import ConfigError
from nnexp.model.loss import n_outputs
from nnexp.optim import OPTIMIZERS
from nnexp.results.plan_file import MemoryEstimate
from nnexp.training.cgroup import CGROUP_ROOT, OWN_CGROUPS, cgroup_headroom
from nnexp.training.spec import RunSpec

BASE_BYTES = 60 * 2**20  # Python, NumPy, Hydra, the run's code: measured at ~57 MiB for a tiny run
EVAL_CHUNK = 2048  # rows of an evaluation chunk (MLP.evaluate)
DATA_BYTES = 4  # float32 features of the prepared splits
LABEL_BYTES = 8  # labels as intp
MEMINFO = Path("/proc/meminfo")


def estimate_memory(spec: RunSpec) -> MemoryEstimate | None:
    """The peak memory of the run ``spec`` describes; None while its data is not on this machine."""
    if spec.data_shape is None or spec.n_train is None:
        return None
    n_total, n_features = spec.data_shape
    n_test = n_total // 6  # taken in MNIST's proportion (60,000 / 10,000): its count is only known once loaded
    itemsize = np.dtype(spec.dtype).itemsize
    sizes = [n_features, *spec.hidden, n_outputs(spec.n_classes)]
    params = sum(a * b + b for a, b in itertools.pairwise(sizes)) * itemsize
    optimizer = OPTIMIZERS[spec.method.optimizer]
    buffers = len(optimizer.BUFFERS)
    copies = (
        1  # gradients
        + buffers
        + (1 if buffers else 0)  # the optimizer's state, and its scratch
        + (1 if spec.method.patience else 0)  # the best weights of early stopping
        + 1
        + buffers  # a checkpoint's copy of the parameters and the optimizer's state
    )
    rows = spec.batch_size or spec.n_train
    hidden = sum(spec.hidden)
    per_row = sum(sizes[1:]) + 2 * hidden + (hidden if spec.method.dropout else 0)  # acts, deltas, scratch, kept
    training = rows * per_row * itemsize
    key = spec.pack_key
    if key is not None and key.pooled:  # its share of a pool's buffers over all its rows (nnexp.data.pack_data):
        training += 3 * n_total * per_row * itemsize  # logits, the same member by member, and the deltas
    evaluation = min(EVAL_CHUNK, n_total) * sum(sizes[1:]) * itemsize  # the forward pass only
    data = (n_total + n_test) * (n_features * DATA_BYTES + LABEL_BYTES)
    own = params * (1 + copies) + training + evaluation
    if itemsize != DATA_BYTES:  # the features converted to the network's precision: a copy of each split
        own += (n_total + n_test) * n_features * itemsize
    if spec.data.cache_arrays:
        return MemoryEstimate(private=BASE_BYTES + own, shared=data)
    raw = (n_total + n_test) * n_features  # the decoded uint8 pixels
    return MemoryEstimate(private=BASE_BYTES + own + data + raw, shared=0)


def pack_memory(members: Sequence[MemoryEstimate], pooled: bool = False) -> MemoryEstimate:
    """The peak memory of a pack (:mod:`nnexp.model.pack`), which trains in one process: each member's own arrays,
    the interpreter once, the members' shared data once, and for a pool (``pooled``, :mod:`nnexp.data.pack_data`)
    a copy of it. (Measured: a pack of 4 full-batch 784-1024-10 runs on MNIST, 2,892 MiB; one such run alone 949
    MiB, estimated 922 MiB.)"""
    own = sum(member.private - BASE_BYTES for member in members)
    shared = max(member.shared for member in members)
    return MemoryEstimate(private=BASE_BYTES + own + (shared if pooled else 0), shared=shared)


def mem_available(meminfo: Path = MEMINFO) -> int | None:
    """Bytes of the machine's memory available to new processes (``MemAvailable`` of /proc/meminfo); None if unknown."""
    try:
        with open(meminfo) as lines:
            for line in lines:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def available_memory(
    cgroup_root: Path = CGROUP_ROOT, meminfo: Path = MEMINFO, own_cgroups: Path = OWN_CGROUPS
) -> int | None:
    """Bytes of memory new processes can use: the machine's (:func:`mem_available`), or less where this process's
    cgroup limits it (a container, a SLURM job: :func:`nnexp.training.cgroup.cgroup_headroom`); None if unknown."""
    known = [n for n in (mem_available(meminfo), cgroup_headroom(cgroup_root, own_cgroups)) if n is not None]
    return min(known, default=None)


def gib(n_bytes: float) -> str:
    """'2.6 GiB' or '340 MiB'."""
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**30 else f"{math.ceil(n_bytes / 2**20)} MiB"


def check_fits(estimates: dict[str, MemoryEstimate], at_once: int, available: int | None) -> None:
    """Refuse (one line, :class:`ConfigError`) runs of which ``at_once`` at a time would need more memory than
    is ``available``: the largest ones together, their shared data once. ``estimates`` by run."""
    if available is None or not estimates:
        return
    largest = sorted(estimates.items(), key=lambda item: -item[1].private)[:at_once]
    shared = {estimate.shared for _, estimate in largest}  # one copy of each memory-mapped data set
    need = sum(estimate.private for _, estimate in largest) + sum(shared)
    if need > available:
        run, estimate = largest[0]
        together = f"{len(largest)} runs at a time would need about {gib(need)}; " if len(largest) > 1 else ""
        raise ConfigError(
            f"not enough memory: {together}{run} alone about {gib(estimate.total)}, and {gib(available)} are"
            " available; allowed: fewer runs at a time (hydra.launcher.n_jobs=1) or smaller runs (hidden, batch_size)"
        )
