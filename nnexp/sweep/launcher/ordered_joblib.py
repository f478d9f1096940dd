"""Hydra's joblib launcher, starting the runs of a sweep longest first.

Installed as ``hydra_plugins.nnexp_launcher`` (``pyproject.toml`` maps this folder there):
Hydra instantiates launchers only from the ``hydra_plugins`` namespace.
``nnexp.run.register_configs`` registers it, since Hydra's plugin scan does not see the
packages of an editable install.

Launchers start jobs in the grid's order, so in a grid whose last values are its largest
(``hidden=32,64,128,256``) the longest run starts last and runs alone while the other
workers idle. This one starts them in order of the work the sweep plan estimates for each
(:func:`nnexp.sweep.planning.estimated_work`), longest first, the classic LPT schedule; each job
keeps its number (``hydra.job.num``) and the results come back in the grid's order.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from hydra.types import HydraContext, TaskFunction
from hydra_plugins.hydra_joblib_launcher._core import execute_job, process_joblib_cfg
from hydra_plugins.hydra_joblib_launcher.config import JobLibLauncherConf
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
from joblib import Parallel, delayed, effective_n_jobs
from omegaconf import DictConfig

from nnexp.sweep.plan import read_plan

log = logging.getLogger(__name__)


class LaunchOrder(Enum):
    longest_first = "longest_first"  # by the plan's estimated work; the grid's order without a plan
    given = "given"  # the grid's order, as Hydra's launchers do


@dataclass
class OrderedJoblibLauncherConf(JobLibLauncherConf):
    _target_: str = "hydra_plugins.nnexp_launcher.ordered_joblib.OrderedJoblibLauncher"
    order: LaunchOrder = LaunchOrder.longest_first


def launch_order(job_overrides: Sequence[Sequence[str]], plan: dict[str, Any] | None) -> list[int]:
    """Indices of the jobs, longest first by the plan's estimated work (ties keep the grid's order).

    The grid's order when there is no plan or it lacks the work of any of these jobs (a
    searching sweeper proposes jobs the plan does not know).
    """
    work = {tuple(job["overrides"]): job.get("work") for job in (plan or {}).get("jobs") or []}
    estimates = [work.get(tuple(overrides)) for overrides in job_overrides]
    if any(estimate is None for estimate in estimates):
        return list(range(len(job_overrides)))
    return sorted(range(len(job_overrides)), key=lambda index: -estimates[index])


# Launchers that run jobs with joblib.Parallel(**parallel_settings(their config))
JOBLIB_LAUNCHERS = (OrderedJoblibLauncherConf._target_, JobLibLauncherConf._target_)


def parallel_settings(launcher: Mapping[str, Any]) -> dict[str, Any]:
    """``joblib.Parallel``'s arguments for a launcher config (as Hydra's joblib launcher makes them).

    A ``Parallel`` call with the same arguments runs on the same worker processes.
    """
    settings = {key: value for key, value in launcher.items() if key not in ("_target_", "order")}
    settings["backend"] = "loky"  # Hydra's state cannot cross threads
    process_joblib_cfg(settings)
    return settings


def _import_modules(names: list[str]) -> None:
    for name in names:
        importlib.import_module(name)


def start_workers(joblib_cfg: dict[str, Any], modules: list[str]) -> Iterator[None] | None:
    """Start joblib's worker processes, each importing ``modules`` (the run's code), without waiting for them.

    Iterate the result to wait. Later ``Parallel`` calls with the same settings reuse these
    processes (joblib's reusable executor). None when joblib runs jobs in this process (1 job).
    """
    workers = effective_n_jobs(joblib_cfg.get("n_jobs"))
    if workers == 1:
        return None
    return Parallel(**joblib_cfg, return_as="generator_unordered")(
        delayed(_import_modules)(modules) for _ in range(workers)
    )


class OrderedJoblibLauncher(JoblibLauncher):
    """The joblib launcher with a choice of the order in which jobs start (``hydra.launcher.order``)
    and worker processes started while Hydra still checks the sweep."""

    def __init__(self, order: LaunchOrder | str = LaunchOrder.longest_first, **joblib: Any) -> None:
        super().__init__(**joblib)
        self.order = LaunchOrder(order)
        self._workers_starting: Iterator[None] | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
        # the task's module and the callbacks' (Hydra sends the callbacks with every job)
        callbacks = [str(c._target_).rpartition(".")[0] for c in (config.hydra.callbacks or {}).values()]
        self._workers_starting = start_workers(parallel_settings(self.joblib), [task_function.__module__, *callbacks])

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Run the jobs on joblib's loky processes in the chosen order; results in the given order.

        Hydra's ``hydra_joblib_launcher._core.launch`` with the order as the one change: that
        function numbers jobs by their position, so reordering its input would renumber them.
        """
        assert self.config is not None and self.task_function is not None and self.hydra_context is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        order = list(range(len(job_overrides)))
        if self.order is LaunchOrder.longest_first:
            order = launch_order(job_overrides, read_plan(sweep_dir))
        joblib_cfg = parallel_settings(self.joblib)
        log.info(
            "Joblib.Parallel(%s) is launching %d jobs%s",
            ",".join(f"{k}={v}" for k, v in joblib_cfg.items()),
            len(job_overrides),
            ", longest first" if order != sorted(order) else "",
        )
        log.info("Launching jobs, sweep output dir : %s", sweep_dir)
        for index in order:
            log.info("\t#%d : %s", initial_job_idx + index, " ".join(filter_overrides(job_overrides[index])))
        for _ in self._workers_starting or ():  # wait: dropping the generator would stop the workers
            pass
        self._workers_starting = None
        singleton_state = Singleton.get_state()
        results = Parallel(**joblib_cfg)(
            delayed(execute_job)(
                initial_job_idx + index,
                job_overrides[index],
                self.hydra_context,
                self.config,
                self.task_function,
                singleton_state,
            )
            for index in order
        )
        in_grid_order: list[JobReturn] = [None] * len(order)  # type: ignore[list-item]
        for index, result in zip(order, results):
            in_grid_order[index] = result
        return in_grid_order


def register() -> None:
    """Make the launcher known to Hydra: its plugin registry and, as ``hydra/launcher=ordered_joblib``, its configs."""
    Plugins.instance().register(OrderedJoblibLauncher)
    ConfigStore.instance().store(
        group="hydra/launcher", name="ordered_joblib", node=OrderedJoblibLauncherConf, provider="nnexp"
    )
