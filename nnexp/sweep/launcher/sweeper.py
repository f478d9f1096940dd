"""nnexp's grid sweeper: the grid Hydra's basic sweeper would run, launching only the jobs nnexp's plan says to run.

The sweep's callback (:mod:`nnexp.sweep.callback`) plans the grid before the sweeper starts
(:mod:`nnexp.sweep.planning`): every job composed and checked, given its folder, the finished ones marked.
This sweeper launches the jobs that run, each into its planned folder, so a rerun of a finished sweep
launches nothing and composes no job again. Without a plan (the callback removed) it launches the whole grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from nnexp.sweep.grid import grid_jobs, sweep_arguments
from nnexp.sweep.plan import own_jobs

MULTIRUN_FILE = "multirun.yaml"  # the sweep's config, as Hydra's sweepers save it


class GridSweeper(Sweeper):
    """Runs the grid of ``hydra.sweeper.params`` and the command line's overrides, in batches of
    ``max_batch_size`` jobs (None: all at once)."""

    def __init__(self, max_batch_size: int | None = None, params: dict[str, str] | None = None) -> None:
        self.max_batch_size = max_batch_size
        self.params = params  # read with the rest of the config: nnexp.sweep.grid.sweep_arguments
        self.config: DictConfig | None = None
        self.launcher: Launcher | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> list[Sequence[JobReturn]]:
        """Launch the planned jobs that run (with their folders), batch by batch; their results."""
        assert self.config is not None and self.launcher is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / MULTIRUN_FILE)
        planned = own_jobs(sweep_dir)
        if planned is None:
            jobs = grid_jobs(sweep_arguments(self.config))
        else:
            jobs = [job.launch_overrides(sweep_dir) for job in planned if job.runs]
        size = self.max_batch_size or max(len(jobs), 1)
        returns: list[Sequence[JobReturn]] = []
        for start in range(0, len(jobs), size):
            results = self.launcher.launch(jobs[start : start + size], initial_job_idx=start)
            for result in results:
                _: Any = result.return_value  # raises a job's exception, as Hydra's sweeper does
            returns.append(results)
        return returns
