"""Hydra callback of a sweep: its plan, progress lines, and the report at the end.

Everything here reads and writes files in the sweep folder, because Hydra passes
``on_multirun_end`` no job results and runs ``on_job_end`` inside the worker process.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from nnexp.errors import NnexpError
from nnexp.metrics import SUMMARY_FILE

log = logging.getLogger(__name__)

PLAN_FILE = "sweep_plan.json"
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def planned_jobs(config: DictConfig) -> list[list[str]] | None:
    """The override lists of every job the basic sweeper will launch (None for other sweepers)."""
    if config.hydra.sweeper.get("_target_") != BASIC_SWEEPER:
        return None
    params = [f"{key}={value}" for key, value in (config.hydra.sweeper.get("params") or {}).items()]
    overrides = OverridesParser.create().parse_overrides(params + list(config.hydra.overrides.task))
    return [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]


def finished_runs(sweep_dir: Path) -> int:
    """Number of runs in ``sweep_dir`` that wrote their summary."""
    return sum(1 for _ in sweep_dir.rglob(SUMMARY_FILE))


class SweepCallback(Callback):
    """Writes the sweep plan, logs 'k/N runs finished' after each run, and builds the report."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        jobs = planned_jobs(config)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / PLAN_FILE).write_text(json.dumps({"total": len(jobs) if jobs else None, "jobs": jobs}, indent=1))
        log.info("sweep of %s runs into %s", len(jobs) if jobs else "?", sweep_dir)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        plan = sweep_dir / PLAN_FILE
        if not plan.exists():  # a single run, not a sweep
            return
        total = json.loads(plan.read_text())["total"]
        log.info("sweep progress: %d/%s runs finished", finished_runs(sweep_dir), total or "?")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        report = config.report
        if not report.enabled:
            return
        from nnexp.report import build_report

        try:
            index = build_report(
                sweep_dir,
                Path(report.dir) / sweep_dir.name,
                rows=report.rows,
                cols=report.cols,
                metrics=list(report.metrics),
            )
        except NnexpError as exc:  # the runs are on disk; say why the report is missing
            log.error("report not built: %s (rebuild with: python -m nnexp.report %s)", exc, sweep_dir)
            return
        log.info("report: %s", index)
