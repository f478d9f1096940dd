"""Whether a run folder holds a finished run of a given configuration (for resuming sweeps).

``summary.json`` is the completion marker: it is written last, atomically, and
records the fingerprint of the configuration that produced it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from omegaconf import DictConfig, OmegaConf

from nnexp.metrics import SUMMARY_FILE, read_summary

FINISHED = ("completed", "diverged")  # deterministic outcomes: rerunning would give the same
# Every status a run folder can show, in the order reports list them.
STATUSES = (*FINISHED, "failed", "unreadable", "incomplete", "missing")


def status_counts(statuses: Iterable[str]) -> str:
    """'11 completed, 1 diverged, 1 failed': how many runs have each status, in a fixed order."""
    counts = Counter(statuses)
    return ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])
# Settings that do not change a run's result.
EXECUTION_ONLY = ("report", "force", "blas_threads")
EXECUTION_ONLY_DATA = ("cache_dir", "cache_arrays")


PLAN_FILE = "sweep_plan.json"
LOCK_FILE = ".lock"
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def read_plan(sweep_dir: Path) -> dict[str, Any] | None:
    """The plan a sweep wrote when it started (planned runs and their folders), if any."""
    path = sweep_dir / PLAN_FILE
    return json.loads(path.read_text()) if path.exists() else None


def fingerprint(cfg: DictConfig) -> str:
    """A hash of everything in ``cfg`` that determines the run's result."""
    config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    for key in EXECUTION_ONLY:
        config.pop(key, None)
    for key in EXECUTION_ONLY_DATA:
        config.get("data", {}).pop(key, None)
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run folder exclusively: a second process running the same configuration waits here.

    (A search can propose one configuration twice in a parallel batch; the second run then
    finds the first one's result instead of writing into the same files.) The kernel
    releases the lock when its holder exits, also on kill -9.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOCK_FILE, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def finished_summary(run_dir: Path, config_fingerprint: str) -> dict[str, Any] | None:
    """The summary of a finished run of this exact configuration in ``run_dir``, else None."""
    path = run_dir / SUMMARY_FILE
    try:
        summary = read_summary(path)
    except (OSError, ValueError):  # absent, or not a summary we wrote
        return None
    if summary.get("status") in FINISHED and summary.get("fingerprint") == config_fingerprint:
        return summary
    return None
