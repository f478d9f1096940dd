"""The sweep plan file (``sweep_plan.json``): what the sweeps into one folder planned, and where they come from.

- ``jobs``: the latest sweep's jobs in its grid's order, each ``{"overrides": [...], "dir": run folder,
  "fingerprint", "finished_before": bool, "work": FLOPs}`` and ``"same_as": folder`` for a configuration
  another job or folder runs (see :mod:`nnexp.sweep.planning`); None when the sweeper plans as it goes.
- ``runs``: every run folder any sweep into this folder planned, with its overrides: what a report
  expects to find (each run once, however many sweeps planned it).
- ``sweeps``: each sweep's start, provenance, process and jobs, oldest first; ``started``, ``provenance``
  and ``total`` (its distinct runs) are the latest one's. A sweep reads its own jobs (:func:`own_jobs`).

Sweeps into one folder, one after the other or at the same time, merge their plans under a lock.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nnexp.results.files import write_json_atomic

PLAN_FILE = "sweep_plan.json"
PLAN_LOCK = ".sweep_plan.lock"


def read_plan(sweep_dir: Path) -> dict[str, Any] | None:
    """The plan of the sweeps into ``sweep_dir``, if any (a plan that cannot be read is none)."""
    try:
        plan = json.loads((sweep_dir / PLAN_FILE).read_text())
    except (OSError, ValueError):
        return None
    return plan if isinstance(plan, dict) else None


def own_jobs(plan: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """The jobs of the sweep running in this process (another sweep into the same folder may have planned
    since); the latest sweep's when this process planned none."""
    for sweep in reversed((plan or {}).get("sweeps") or []):
        if sweep.get("pid") == os.getpid() and "jobs" in sweep:
            return sweep["jobs"]
    return (plan or {}).get("jobs")


def planned_runs(plan: dict[str, Any] | None) -> dict[str, list[str]]:
    """The overrides of every run folder the plan expects (an older plan: its jobs' folders)."""
    if not plan:
        return {}
    if isinstance(plan.get("runs"), dict):
        return plan["runs"]
    return {job["dir"]: job["overrides"] for job in plan.get("jobs") or [] if "same_as" not in job}


@contextmanager
def _plan_lock(sweep_dir: Path) -> Iterator[None]:
    with open(sweep_dir / PLAN_LOCK, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def merge_plan(sweep_dir: Path, sweep: dict[str, Any]) -> dict[str, Any]:
    """Add ``sweep`` (``started``, ``provenance``, ``total``, ``jobs``) to the folder's plan; the merged plan."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    with _plan_lock(sweep_dir):
        earlier = read_plan(sweep_dir)
        runs = dict(planned_runs(earlier))
        for job in sweep["jobs"] or []:
            if "same_as" not in job:
                runs.setdefault(job["dir"], job["overrides"])
        history = list((earlier or {}).get("sweeps") or [])
        if earlier and not history and "started" in earlier:  # an older plan: its one sweep
            history.append({"started": earlier["started"], "provenance": earlier.get("provenance")})
        history.append({"started": sweep["started"], "provenance": sweep["provenance"], "pid": os.getpid()})
        history[-1]["jobs"] = sweep["jobs"]
        plan = {**sweep, "runs": runs, "sweeps": history}
        write_json_atomic(sweep_dir / PLAN_FILE, plan)
    return plan
