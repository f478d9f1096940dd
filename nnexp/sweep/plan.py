"""The plan of a grid sweep: its jobs (:class:`~nnexp.results.plan_file.PlannedJob`) kept by the process that planned
them, and merged into the plan file (``sweep_plan.json``, :mod:`nnexp.results.plan_file`).

A rerun that plans no new run leaves the file as it is. Sweeps into one folder, one after the other or at the
same time, merge their plans under a lock, each only into the plan it planned from (:func:`plan_version`): a sweep
that finds the plan changed since (another sweep planned into the folder meanwhile) writes nothing and plans again,
so two configurations never get one folder. The sweep's own process keeps its jobs in memory
(:func:`remember_jobs`): the launcher and the end of the sweep read them from there, not from the file another
sweep may have rewritten meanwhile.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nnexp.results.files import locked, write_json_atomic
from nnexp.results.plan_file import PLAN_FILE, PlannedJob, PlannedRun, PlanningSweep, SweepPlan, read_plan

PLAN_LOCK = ".sweep_plan.lock"


def distinct_runs(jobs: list[PlannedJob]) -> list[PlannedJob]:
    """The jobs that run (or ran) a configuration of their own, one per folder: the sweep's runs."""
    seen, runs = set(), []
    for job in jobs:
        if job.same_as is None and job.dir not in seen:
            seen.add(job.dir)
            runs.append(job)
    return runs


_jobs_of_this_process: dict[Path, list[PlannedJob]] = {}


def remember_jobs(sweep_dir: Path, jobs: list[PlannedJob]) -> None:
    """Keep the jobs this process planned for ``sweep_dir`` for its launcher and the end of its sweep."""
    _jobs_of_this_process[sweep_dir.resolve()] = jobs


def own_jobs(sweep_dir: Path) -> list[PlannedJob] | None:
    """The jobs this process planned for ``sweep_dir`` (None: it planned none, e.g. a searching sweeper)."""
    return _jobs_of_this_process.get(sweep_dir.resolve())


def latest_jobs(sweep_dir: Path) -> list[PlannedJob] | None:
    """The jobs of the latest sweep that planned runs into ``sweep_dir`` (None: none, or a searching sweeper's)."""
    plan = read_plan(sweep_dir)
    return list(plan.jobs) if plan is not None and plan.jobs is not None else None


def plan_version(sweep_dir: Path) -> str | None:
    """The version of the folder's plan file (its SHA-256; None: no plan yet), to merge into only that version."""
    try:
        return hashlib.sha256((sweep_dir / PLAN_FILE).read_bytes()).hexdigest()
    except OSError:  # no plan, no folder, or none readable: the sweep's own checks and writes say so in one line
        return None


def merge_plan(
    sweep_dir: Path,
    started: str,
    provenance: Mapping[str, Any],
    jobs: list[PlannedJob] | None,
    planned_from: str | None,
) -> bool:
    """Add a sweep (its start, provenance and jobs; None when its sweeper plans as it goes) to the folder's plan, if
    the plan is still the version ``planned_from`` (:func:`plan_version`, read before the sweep chose its folders);
    whether it was added (False: another sweep planned into the folder meanwhile, nothing was written).

    A sweep whose jobs all finished before, into folders the plan knows, changes nothing.
    """
    sweep_dir.mkdir(parents=True, exist_ok=True)
    with locked(sweep_dir / PLAN_LOCK):
        if plan_version(sweep_dir) != planned_from:
            return False
        earlier = read_plan(sweep_dir)
        runs = dict(earlier.runs) if earlier is not None else {}
        if earlier is not None and jobs is not None and all(not job.runs and job.result_dir in runs for job in jobs):
            return True
        for job in distinct_runs(jobs or []):
            runs.setdefault(job.dir, PlannedRun(job.overrides, job.fingerprint))
        sweeps = (*(earlier.sweeps if earlier is not None else ()), PlanningSweep(started, provenance))
        total = len(distinct_runs(jobs)) if jobs is not None else None
        plan = SweepPlan(sweeps, tuple(jobs) if jobs is not None else None, total, runs)
        write_json_atomic(sweep_dir / PLAN_FILE, plan.to_dict())
    return True
