"""The sweep plan file (``sweep_plan.json``) as its readers see it: which run folders a sweep planned.

:mod:`nnexp.sweep.plan` writes it; a report reads from it the runs it should find (:func:`planned_runs`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PLAN_FILE = "sweep_plan.json"


@dataclass(frozen=True)
class PlannedRun:
    """A run folder a sweep planned: the overrides that made it and its configuration's fingerprint ("" when
    not known: not checked, or planned by an older version)."""

    overrides: tuple[str, ...]
    fingerprint: str = ""


def read_plan(sweep_dir: Path) -> dict[str, Any] | None:
    """The plan file of ``sweep_dir`` as JSON, if any (one that cannot be read is none)."""
    try:
        plan = json.loads((sweep_dir / PLAN_FILE).read_text())
    except (OSError, ValueError):
        return None
    return plan if isinstance(plan, dict) else None


def runs_of(plan: dict[str, Any] | None) -> dict[str, PlannedRun]:
    """The run folders of a plan (of an older version: its overrides alone, or its jobs' folders)."""
    if not plan:
        return {}
    runs = plan.get("runs")
    if isinstance(runs, dict):
        return {
            folder: PlannedRun(tuple(run["overrides"]), run.get("fingerprint") or "")
            if isinstance(run, dict)
            else PlannedRun(tuple(run))
            for folder, run in runs.items()
        }
    return {
        job["dir"]: PlannedRun(tuple(job["overrides"]), job.get("fingerprint") or "")
        for job in plan.get("jobs") or []
        if not job.get("same_as")
    }


def planned_runs(sweep_dir: Path) -> dict[str, PlannedRun]:
    """Every run folder the sweeps into ``sweep_dir`` planned, each once."""
    return runs_of(read_plan(sweep_dir))
