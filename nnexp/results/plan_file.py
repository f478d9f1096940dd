"""The sweep plan file (``sweep_plan.json``) and its records: the jobs a sweep planned, the run folders any sweep
planned, the sweeps that planned them.

:mod:`nnexp.sweep.plan` writes it (:meth:`SweepPlan.to_dict`); the sweep, its launcher, a pack's jobs and the
report read it (:func:`read_plan`): typed, whatever version of nnexp wrote it.

The file holds:

- ``jobs``: the latest sweep's jobs in its grid's order (:meth:`PlannedJob.to_dict`).
- ``runs``: every run folder any sweep into this folder planned, with its overrides and its fingerprint:
  what a report expects to find (each run once, however many sweeps planned it), and which configuration
  each folder holds.
- ``sweeps``: each sweep that planned a run, its start and provenance, oldest first; ``started``,
  ``provenance`` and ``total`` (its distinct runs) are the latest one's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

PLAN_FILE = "sweep_plan.json"


@dataclass(frozen=True)
class MemoryEstimate:
    """A run's peak resident memory in bytes: ``private`` to its process, ``shared`` with the other runs on the
    same memory-mapped data (counted once for all of them); :mod:`nnexp.training.memory` estimates it."""

    private: int
    shared: int

    @property
    def total(self) -> int:
        """What the run's process shows as its peak resident set size."""
        return self.private + self.shared


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
    def from_dict(cls, record: Mapping[str, Any]) -> PlannedJob:
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


@dataclass(frozen=True)
class PlannedRun:
    """A run folder a sweep planned: the overrides that made it and its configuration's fingerprint ("" when
    not known: not checked, or planned by an older version)."""

    overrides: tuple[str, ...]
    fingerprint: str = ""


@dataclass(frozen=True)
class PlanningSweep:
    """A sweep that planned runs into the folder: when it started (ISO 8601) and where it came from (the command,
    the code's git state, the host, the versions: :mod:`nnexp.sweep.provenance`; shown as recorded)."""

    started: str
    provenance: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepPlan:
    """The plan file: the sweeps that planned into the folder (oldest first; :attr:`latest`), the latest one's jobs
    (None: its sweeper plans as it goes, e.g. a search) and distinct runs (``total``), and every run folder any of
    them planned (``runs``)."""

    sweeps: tuple[PlanningSweep, ...]
    jobs: tuple[PlannedJob, ...] | None
    total: int | None
    runs: dict[str, PlannedRun]

    @property
    def latest(self) -> PlanningSweep | None:
        return self.sweeps[-1] if self.sweeps else None

    def to_dict(self) -> dict[str, Any]:
        """The file's JSON object (``started`` and ``provenance``: the latest sweep's)."""
        latest = self.latest
        return {
            "started": latest.started if latest else None,
            "total": self.total,
            "provenance": dict(latest.provenance) if latest else None,
            "jobs": [job.to_dict() for job in self.jobs] if self.jobs is not None else None,
            "runs": {folder: asdict(run) | {"overrides": list(run.overrides)} for folder, run in self.runs.items()},
            "sweeps": [{"started": sweep.started, "provenance": dict(sweep.provenance)} for sweep in self.sweeps],
        }

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> SweepPlan:
        """The plan a file holds, also as older versions wrote it (no ``sweeps``: its one sweep; ``runs`` as lists of
        overrides, or none: its jobs' folders; jobs it cannot read: none). ``KeyError``, ``TypeError`` or
        ``ValueError`` for another form."""
        sweeps = tuple(
            PlanningSweep(str(sweep["started"]), sweep.get("provenance") or {}) for sweep in record.get("sweeps") or []
        )
        if not sweeps and record.get("started"):
            sweeps = (PlanningSweep(str(record["started"]), record.get("provenance") or {}),)
        try:  # jobs of a form nnexp does not write (by hand, or an older version) are none: the runs still count
            jobs = tuple(PlannedJob.from_dict(job) for job in record["jobs"])
        except (KeyError, TypeError, ValueError):
            jobs = None
        runs = record.get("runs")
        if isinstance(runs, dict):
            planned = {
                folder: PlannedRun(tuple(run["overrides"]), run.get("fingerprint") or "")
                if isinstance(run, dict)
                else PlannedRun(tuple(run))
                for folder, run in runs.items()
            }
        else:
            planned = {job.dir: PlannedRun(job.overrides, job.fingerprint) for job in jobs or () if not job.same_as}
        total = record.get("total")
        return cls(sweeps, jobs, total if isinstance(total, int) else None, planned)


def read_plan(sweep_dir: Path) -> SweepPlan | None:
    """The plan file of ``sweep_dir``, if any (one that cannot be read as a plan is none)."""
    try:
        record = json.loads((sweep_dir / PLAN_FILE).read_text())
        return SweepPlan.from_dict(record) if isinstance(record, dict) else None
    except (OSError, KeyError, TypeError, ValueError):
        return None


def planned_runs(sweep_dir: Path) -> dict[str, PlannedRun]:
    """Every run folder the sweeps into ``sweep_dir`` planned, each once."""
    plan = read_plan(sweep_dir)
    return plan.runs if plan is not None else {}
