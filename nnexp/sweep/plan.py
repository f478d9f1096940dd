"""The sweep plan file (``sweep_plan.json``): when the sweep started, where it comes from, and its planned jobs.

Each job is ``{"overrides": [...], "dir": run folder, "finished_before": bool, "work": FLOPs}``
(see :mod:`nnexp.sweep.planning`); ``jobs`` is None when the sweeper plans as it goes (a search).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PLAN_FILE = "sweep_plan.json"


def read_plan(sweep_dir: Path) -> dict[str, Any] | None:
    """The plan a sweep wrote when it started, if any."""
    path = sweep_dir / PLAN_FILE
    return json.loads(path.read_text()) if path.exists() else None


def write_plan(sweep_dir: Path, plan: dict[str, Any]) -> None:
    """Write the plan into ``sweep_dir``."""
    (sweep_dir / PLAN_FILE).write_text(json.dumps(plan, indent=1))
