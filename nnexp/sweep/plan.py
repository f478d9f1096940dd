"""The plan of a grid sweep: its jobs as typed records (:class:`PlannedJob`), and the plan file (``sweep_plan.json``).

The file holds:

- ``jobs``: the latest sweep's jobs in its grid's order (:meth:`PlannedJob.to_dict`).
- ``runs``: every run folder any sweep into this folder planned, with its overrides and its fingerprint:
  what a report expects to find (each run once, however many sweeps planned it), and which configuration
  each folder holds.
- ``sweeps``: each sweep that planned a run, its start and provenance, oldest first; ``started``,
  ``provenance`` and ``total`` (its distinct runs) are the latest one's.

A rerun that plans no new run leaves the file as it is. Sweeps into one folder, one after the other or at the
same time, merge their plans under a lock, each only into the plan it planned from (:func:`plan_version`): a sweep
that finds the plan changed since (another sweep planned into the folder meanwhile) writes nothing and plans again,
so two configurations never get one folder. The sweep's own process keeps its jobs in memory
(:func:`remember_jobs`): the launcher and the end of the sweep read them from there, not from the file another
sweep may have rewritten meanwhile.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from nnexp.results.files import locked, write_json_atomic
from nnexp.results.plan_file import PLAN_FILE, PlannedRun, read_plan, runs_of
from nnexp.training.memory import MemoryEstimate

PLAN_LOCK = ".sweep_plan.lock"


def quoted(value: str) -> str:
    """``value`` as a quoted override value of Hydra's grammar (where a backslash escapes a quote, and a run of
    backslashes before a quote or the end is doubled)."""
    value = re.sub(r"(\\+)('|$)", lambda match: match.group(1) * 2 + match.group(2), value)
    return "'" + value.replace("'", "\\'") + "'"


@dataclass(frozen=True)
class PlannedJob:
    """One job of a grid sweep as planned.

    ``overrides``: the job's task overrides as the grid gives them; ``dir``: its run folder (one per
    configuration); ``fingerprint``: its configuration's identity ("" when it could not be checked: its data
    could not be prepared, and the run fails on its own); ``finished_before``: its folder holds its verified
    result already; ``same_as``: the folder of an earlier job of the grid with the same configuration;
    ``work``: its estimated FLOPs (None before a download; a pack's leader has its pack's, a member none);
    ``memory``: its estimated peak memory; ``pack``: the folders of the other runs it trains with it, as their pack's
    leader; ``packed_by``: the folder of the leader of its pack (:mod:`nnexp.sweep.packing`).
    """

    overrides: tuple[str, ...]
    dir: str
    fingerprint: str = ""
    finished_before: bool = False
    same_as: str | None = None
    work: float | None = None
    memory: MemoryEstimate | None = None
    pack: tuple[str, ...] = ()
    packed_by: str | None = None

    @property
    def runs(self) -> bool:
        """Whether the sweep starts this job: a configuration of its own, not finished before."""
        return not self.finished_before and self.same_as is None

    @property
    def result_dir(self) -> str:
        """The folder that holds this job's result."""
        return self.same_as or self.dir

    def launch_overrides(self, sweep_dir: Path) -> list[str]:
        """What the launcher runs: the job's overrides, its sweep's folder and its planned folder."""
        return [*self.overrides, f"hydra.sweep.dir={quoted(str(sweep_dir))}", f"hydra.sweep.subdir={quoted(self.dir)}"]

    def skipped(self) -> PlannedJob:
        """This job, whose folder holds its verified result already: not run."""
        return replace(self, finished_before=True, work=0.0)

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["overrides"], record["pack"] = list(self.overrides), list(self.pack)
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> PlannedJob:
        memory = record.get("memory")
        return cls(
            overrides=tuple(record["overrides"]),
            dir=record["dir"],
            fingerprint=record.get("fingerprint") or "",
            finished_before=bool(record.get("finished_before")),
            same_as=record.get("same_as"),
            work=record.get("work"),
            memory=MemoryEstimate(**memory) if memory else None,
            pack=tuple(record.get("pack") or ()),
            packed_by=record.get("packed_by"),
        )


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
    jobs = (read_plan(sweep_dir) or {}).get("jobs")
    return [PlannedJob.from_dict(job) for job in jobs] if isinstance(jobs, list) else None


def plan_version(sweep_dir: Path) -> str | None:
    """The version of the folder's plan file (its SHA-256; None: no plan yet), to merge into only that version."""
    try:
        return hashlib.sha256((sweep_dir / PLAN_FILE).read_bytes()).hexdigest()
    except OSError:  # no plan, no folder, or none readable: the sweep's own checks and writes say so in one line
        return None


def merge_plan(
    sweep_dir: Path, started: str, provenance: dict[str, Any], jobs: list[PlannedJob] | None, planned_from: str | None
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
        runs = runs_of(earlier)
        if earlier and jobs is not None and all(not job.runs and job.result_dir in runs for job in jobs):
            return True
        for job in distinct_runs(jobs or []):
            runs.setdefault(job.dir, PlannedRun(job.overrides, job.fingerprint))
        history = [
            {"started": sweep["started"], "provenance": sweep.get("provenance")}
            for sweep in (earlier or {}).get("sweeps") or []
        ]
        if earlier and not history and "started" in earlier:  # an older plan: its one sweep
            history.append({"started": earlier["started"], "provenance": earlier.get("provenance")})
        history.append({"started": started, "provenance": provenance})
        plan = {
            "started": started,
            "total": len(distinct_runs(jobs)) if jobs is not None else None,
            "provenance": provenance,
            "jobs": [job.to_dict() for job in jobs] if jobs is not None else None,
            "runs": {folder: asdict(run) | {"overrides": list(run.overrides)} for folder, run in runs.items()},
            "sweeps": history,
        }
        write_json_atomic(sweep_dir / PLAN_FILE, plan)
    return True
