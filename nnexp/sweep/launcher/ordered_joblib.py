"""Hydra's joblib launcher, starting the runs of a sweep longest first.

Installed as ``hydra_plugins.nnexp_launcher`` (``pyproject.toml`` maps this folder there):
Hydra instantiates launchers only from the ``hydra_plugins`` namespace.
``nnexp.task`` registers it (:func:`register`), since Hydra's plugin scan does not see the
packages of an editable install.

Launchers start jobs in the grid's order, so in a grid whose last values are its largest
(``hidden=32,64,128,256``) the longest run starts last and runs alone while the other
workers idle. This one starts them in order of the work the sweep plan estimates for each
(:func:`nnexp.sweep.planning.estimated_work`), longest first, the classic LPT schedule; each job
keeps its number (``hydra.job.num``) and the results come back in the grid's order.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra.types import HydraContext, TaskFunction
from hydra_plugins.hydra_joblib_launcher.config import JobLibLauncherConf
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
from hydra_plugins.nnexp_launcher.config import LaunchOrder, OrderedJoblibLauncherConf
from hydra_plugins.nnexp_launcher.faults import (
    STOP_FILE,
    DeathWatch,
    killed_by,
    registry_of,
    reset_registry,
    run_registered,
    running_jobs,
)
from joblib import Parallel, delayed, effective_n_jobs
from joblib.externals.loky.backend import get_context
from joblib.externals.loky.process_executor import TerminatedWorkerError
from omegaconf import DictConfig, OmegaConf, open_dict

from nnexp.parent_watch import worker_options
from nnexp.results.plan_file import PlannedJob
from nnexp.sweep.grid import runs_a_grid
from nnexp.sweep.plan import own_jobs
from nnexp.training.interrupt import heeded_signals
from nnexp.training.interrupt import request as request_stop
from nnexp.training.job import record_lost
from nnexp.training.spec import config_record, data_identity, fingerprint

log = logging.getLogger(__name__)


LOKY = get_context("loky")  # joblib's process backend, whose processes the launcher's workers are
MAX_UNEXPLAINED = 3  # worker deaths with no run registered, after which the runs not done are failed


def launch_order(estimates: Sequence[float | None]) -> list[int]:
    """Indices of the jobs, longest first by their estimated work (ties keep the grid's order).

    The grid's order when the work of any job is not known (no plan, data not here yet, or a
    searching sweeper's proposals, which no plan knows).
    """
    if any(estimate is None for estimate in estimates):
        return list(range(len(estimates)))
    return sorted(range(len(estimates)), key=lambda index: -estimates[index])


# Launchers that run jobs with joblib.Parallel(**parallel_settings(their config))
JOBLIB_LAUNCHERS = (OrderedJoblibLauncherConf._target_, JobLibLauncherConf._target_)


def parallel_settings(launcher: Mapping[str, Any]) -> dict[str, Any]:
    """``joblib.Parallel``'s arguments for a launcher config (as Hydra's joblib launcher makes them).

    A ``Parallel`` call with the same arguments runs on the same worker processes; they end with this process
    (:mod:`nnexp.parent_watch`).
    """
    settings = {key: value for key, value in launcher.items() if key not in ("_target_", "order")}
    settings["backend"] = "loky"  # Hydra's state cannot cross threads
    settings.update(worker_options(stop_work=request_stop))
    for key in ("pre_dispatch", "batch_size", "max_nbytes"):  # numbers given as text become ints, as Hydra's
        with contextlib.suppress(TypeError, ValueError):  # joblib launcher makes them ("2*n_jobs" stays as it is)
            if settings.get(key):
                settings[key] = int(settings[key])
    return settings


def _import_all(names: list[str]) -> None:
    for name in names:
        importlib.import_module(name)


# How long a worker's start waits for the other workers to arrive (one that never comes is not waited for longer)
MEETING_SECONDS = 30.0


def _import_modules(names: list[str], background: list[str], meeting: str, workers: int) -> None:
    """(In a worker) import ``names``, then start a thread importing ``background`` (a job sent meanwhile need not
    wait), then wait at ``meeting`` (a folder) until ``workers`` processes are there: so each worker takes one of the
    start's tasks (one done early would otherwise take a second, and leave another worker with none)."""
    _import_all(names)
    if background:
        threading.Thread(target=_import_all, args=(background,), name="nnexp-imports", daemon=True).start()
    folder = Path(meeting)
    (folder / str(os.getpid())).touch()
    deadline = time.monotonic() + MEETING_SECONDS
    while len(list(folder.iterdir())) < workers and time.monotonic() < deadline:
        time.sleep(0.01)


def start_workers(
    joblib_cfg: dict[str, Any], modules: list[str], background: list[str] | None = None
) -> Iterator[None] | None:
    """Start joblib's worker processes, each importing ``modules`` (the run's code), then ``background`` in a thread
    of its own, without waiting for them; every worker takes one start (they meet in a temporary folder, removed
    when this process exits).

    Iterate the result to wait. Later ``Parallel`` calls with the same settings reuse these
    processes (joblib's reusable executor). None when joblib runs jobs in this process (1 job).
    """
    workers = effective_n_jobs(joblib_cfg.get("n_jobs"))
    if workers == 1:
        return None
    meeting = tempfile.mkdtemp(prefix="nnexp-workers-")
    atexit.register(shutil.rmtree, meeting, True)
    return Parallel(**joblib_cfg, return_as="generator_unordered")(
        delayed(_import_modules)(modules, background or [], meeting, workers) for _ in range(workers)
    )


# Workers a sweep's callback started before Hydra set the launcher up: their settings and their start, for the
# launcher to take over (one start per sweep; see start_workers_early)
_started_early: tuple[dict[str, Any], Iterator[None] | None] | None = None


def start_workers_early(joblib_cfg: dict[str, Any], modules: list[str], background: list[str]) -> None:
    """Start the workers (:func:`start_workers`) before Hydra sets the launcher up, e.g. while the sweep is
    planned: the launcher takes them over if its settings are these. :func:`end_workers` ends them if the sweep
    does not start."""
    global _started_early
    if _started_early is not None and _started_early[0] == joblib_cfg:  # started already, with these settings
        return
    _started_early = (joblib_cfg, start_workers(joblib_cfg, modules, background))


class OrderedJoblibLauncher(JoblibLauncher):
    """The joblib launcher with a choice of the order in which jobs start (``hydra.launcher.order``)
    and worker processes started while Hydra still checks the sweep."""

    def __init__(self, order: LaunchOrder | str = LaunchOrder.longest_first, **joblib: Any) -> None:
        super().__init__(**joblib)
        # by value: Hydra's plugin scan may have loaded the config module again, with an enum class of its own
        self.order = LaunchOrder(getattr(order, "value", order))
        self._workers_starting: Iterator[None] | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
        global _started_early
        planned = own_jobs(Path(str(config.hydra.sweep.dir)))
        if planned is not None and not any(job.runs for job in planned):  # a rerun of a finished sweep
            return
        settings = parallel_settings(self.joblib)
        early, _started_early = _started_early, None
        if early is not None and early[0] == settings:  # started while the sweep was planned
            self._workers_starting = early[1]
            return
        for _ in (early[1] or ()) if early is not None else ():  # other settings: let them finish (joblib would
            pass  # kill the workers of a dropped call)
        # with the task's module and the callbacks' (Hydra sends the callbacks with every job)
        callbacks = [str(c._target_).rpartition(".")[0] for c in (config.hydra.callbacks or {}).values()]
        self._workers_starting = start_workers(settings, [task_function.__module__, *callbacks])

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Run the jobs on joblib's loky processes in the chosen order; results in the given order.

        Hydra's joblib launcher's own ``launch`` with three changes: the order; a worker that
        dies fails only its job (:mod:`.faults`: joblib fails the whole batch, so the jobs that were
        not killed run again, resuming from their checkpoints); and SIGTERM / SIGINT / SIGHUP / SIGQUIT stop the
        sweep: running runs checkpoint and end as ``interrupted``, no new one starts, the workers are ended
        and the process exits with status 128 + the signal's number (143 / 130 / 129 / 131).
        """
        assert self.config is not None and self.task_function is not None and self.hydra_context is not None
        setup_globals()
        # Hydra >= 1.4: the code the logging config may call, as the command line's hydra.main named it
        whitelist = getattr(self.hydra_context, "execution_whitelist", None)
        allowed = {} if whitelist is None else {"execution_whitelist": whitelist}
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose, **allowed)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        planned = {tuple(job.launch_overrides(sweep_dir)): job for job in own_jobs(sweep_dir) or []}
        jobs = [planned.get(tuple(overrides)) for overrides in job_overrides]
        results: dict[int, JobReturn] = {}
        order = list(range(len(job_overrides)))
        if self.order is LaunchOrder.longest_first:
            order = launch_order([job.work if job else None for job in jobs])
        joblib_cfg = parallel_settings(self.joblib)
        # what Hydra's joblib launcher says, and the order (hydra.verbose=hydra_plugins.nnexp_launcher.ordered_joblib)
        log.debug(
            "Joblib.Parallel(%s) is launching %d jobs%s",
            ",".join(f"{k}={v}" for k, v in joblib_cfg.items()),
            len(order),
            ", longest first" if order != sorted(order) else "",
        )
        log.debug("Launching jobs, sweep output dir : %s", sweep_dir)
        for index in order:
            log.debug("\t#%d : %s", initial_job_idx + index, " ".join(filter_overrides(job_overrides[index])))
        for _ in self._workers_starting or ():  # wait: dropping the generator would stop the workers
            pass
        self._workers_starting = None
        registry = registry_of(sweep_dir)
        suspected: Counter[int] = Counter()
        unexplained = 0  # rounds ended by a worker's death while no run was registered
        with _StopOnSignals(registry) as stopping:
            remaining = order
            try:
                while remaining and not stopping.signum and not stopping.disk_full:
                    lost = self._run_round(remaining, job_overrides, initial_job_idx, joblib_cfg, stopping, results)
                    if lost is None:  # a worker died before its run was registered: retry, but not forever
                        unexplained += 1
                        if unexplained < MAX_UNEXPLAINED:
                            log.warning("a worker process ended before its run started: the runs not done start again")
                            continue
                        lost = dict.fromkeys([index for index in remaining if index not in results], "a signal")
                    retried = []
                    for index, reason in lost.items() if not stopping.signum else ():  # stopping: no fault of a run
                        suspected[index] += 1
                        if reason is not None or suspected[index] > 1:  # the killed job; or twice a suspect
                            error = f"worker process killed by {reason or 'a signal'} (out of memory?)"
                            self._record_lost(sweep_dir, jobs[index], error, job_overrides[index])
                            log.error("run #%d: %s", initial_job_idx + index, error)
                            results[index] = self._lost_result(job_overrides[index], error)
                        else:
                            retried.append(initial_job_idx + index)
                    if retried:
                        log.warning(
                            "a worker process was killed while runs %s ran, and which one it ran cannot be told: they "
                            "start again from their checkpoints (a run lost so twice is failed)",
                            ", ".join(f"#{number}" for number in retried),
                        )
                    remaining = [index for index in remaining if index not in results]
            finally:
                shutil.rmtree(registry, ignore_errors=True)
        if stopping.disk_full:
            not_run = sum(1 for index in range(len(job_overrides)) if index not in results)
            log.error(
                "%s; the sweep started no new run (%d not run): free space and rerun the same command",
                stopping.disk_full,
                not_run,
            )
            end_workers()
            sys.exit(1)
        if stopping.signum:
            end_workers()
            name = signal.Signals(stopping.signum).name
            running = {number - initial_job_idx for number in stopping.running}
            log.error(
                "sweep stopped by %s: %d running runs stopped where they were, %d did not start; rerun the same"
                " command to resume",
                name,
                len(running),
                sum(1 for index in range(len(job_overrides)) if index not in results and index not in running),
            )
            sys.exit(128 + stopping.signum)
        return [results[index] for index in range(len(job_overrides))]

    def _record_lost(self, sweep_dir: Path, job: PlannedJob | None, error: str, overrides: Sequence[str]) -> None:
        """Record a run lost with its worker as failed, where it can be (no config to place it; a full disk)."""
        job, config = self._lost_run(job, overrides)
        if job is None:
            return
        try:
            finished = record_lost(sweep_dir / job.dir, error, job.fingerprint, config)
        except BlockingIOError:
            log.error("the failure of %s is not recorded there: another process runs that configuration now", job.dir)
        except OSError as exc:
            log.error("the failure of %s could not be recorded: %s", job.dir, exc)
        else:
            if finished is not None:
                log.warning("%s holds a finished run (%s), kept as it is", job.dir, finished.status)

    def _lost_run(self, job: PlannedJob | None, overrides: Sequence[str]) -> tuple[PlannedJob | None, dict[str, Any]]:
        """A lost job's run and its configuration as the run would have recorded it: its planned job, or for a job no
        plan placed (a searching sweeper's trial) the folder Hydra gives it, with its fingerprint; with an empty
        configuration (and no job if none was planned) when its config cannot be composed."""
        assert self.hydra_context is not None and self.config is not None
        try:
            composed = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            folder = str(composed.hydra.sweep.subdir)
            with open_dict(composed):
                del composed["hydra"]
            if job is None:
                job = unplanned_job(overrides, folder, composed)
            return job, OmegaConf.to_container(composed, resolve=True, enum_to_str=True)
        except Exception:  # the failure is recorded all the same, where it can be
            return job, {}

    def _lost_result(self, overrides: Sequence[str], error: str) -> JobReturn:
        """The result of a job whose worker died, as the task gives a failed run's: a searching sweeper is told of the
        failure (a failed trial, with ``error``), a grid sweeper gets no result (NaN; the run's folder says why)."""
        assert self.config is not None
        if runs_a_grid(str(self.config.hydra.sweeper.get("_target_"))):
            return _no_result(overrides)
        lost = JobReturn(overrides=list(overrides), status=JobStatus.FAILED)
        lost.return_value = RuntimeError(error)
        return lost

    def _run_round(
        self,
        indices: list[int],
        job_overrides: Sequence[Sequence[str]],
        initial_job_idx: int,
        joblib_cfg: dict[str, Any],
        stopping: _StopOnSignals,
        results: dict[int, JobReturn],
    ) -> dict[int, str | None] | None:
        """Run ``indices`` until they are done or a worker dies, filling ``results``; the jobs lost with the dead
        worker: the one killed (with its signal), or, when it cannot be told, every job that was running (None);
        None when a worker died and no job was running."""
        assert self.hydra_context is not None and self.task_function is not None
        registry = stopping.registry
        reset_registry(registry)
        watch = DeathWatch(registry)
        watch.start()
        singleton_state = Singleton.get_state()
        try:
            for number, result, disk_full in Parallel(**joblib_cfg, return_as="generator_unordered")(
                delayed(run_registered)(
                    initial_job_idx + index,
                    job_overrides[index],
                    self.hydra_context,
                    self.config,
                    self.task_function,
                    singleton_state,
                    registry,
                    effective_n_jobs(joblib_cfg.get("n_jobs")) > 1,
                )
                for index in indices
            ):
                if result is not None:
                    results[number - initial_job_idx] = result
                if disk_full and not stopping.disk_full:  # start no new run: each would fail the same way
                    stopping.disk_full = disk_full
                    stopping.stop_starting()
        except TerminatedWorkerError as exc:
            killed = watch.stop(death_reported=True)
            if killed is not None:
                return {killed - initial_job_idx: killed_by(exc)}
            running = [number - initial_job_idx for number in running_jobs(registry).values()]
            return dict.fromkeys(running, None) if running else None
        finally:
            watch.stop()
        return {}


class _StopOnSignals:
    """Within: SIGTERM, SIGINT, SIGHUP and SIGQUIT (:func:`~nnexp.training.interrupt.heeded_signals`) stop the
    sweep instead of killing this process: no new job starts (the stop file) and the running ones are asked to
    stop (the same signal to their workers, so that each run says which one came). A full disk stops the sweep
    too: no new job starts, the running ones end as they will."""

    def __init__(self, registry: Path) -> None:
        self.registry = registry
        self.signum: int | None = None
        self.running: set[int] = set()  # the job numbers running when the signal came
        self.disk_full: str | None = None  # the error of a run that found the disk full
        self._previous: dict[int, Any] = {}

    def stop_starting(self) -> None:
        """Tell the workers to start no new job."""
        with contextlib.suppress(OSError):
            (self.registry / STOP_FILE).touch()

    def _stop(self, signum: int, frame: object) -> None:
        self.signum = signum
        self.stop_starting()
        running = running_jobs(self.registry)
        self.running |= set(running.values())
        for pid in running:
            if pid != os.getpid():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)

    def __enter__(self) -> _StopOnSignals:
        self._previous = {signum: signal.signal(signum, self._stop) for signum in heeded_signals()}
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _workers() -> list[multiprocessing.process.BaseProcess]:
    """This process's joblib workers: its children that are loky's processes (the launcher's backend), not the
    other children of a process that runs sweeps from Python (a notebook's own pool)."""
    return [child for child in multiprocessing.active_children() if isinstance(child, LOKY.Process)]


def end_workers() -> None:
    """End this process's joblib worker processes (joblib keeps them for the next call; a stopped sweep has none, and
    an ended one needs them no more: ending them is quicker than waiting for their interpreters to shut down)."""
    global _started_early
    with warnings.catch_warnings():  # workers started early for a sweep that did not start: joblib cancels their
        warnings.simplefilter("ignore", UserWarning)  # imports when the call is dropped, and would say so
        _started_early = None
    for child in _workers():
        _signal_child(child, "terminate")
    for child in _workers():
        child.join(timeout=5)
        if child.is_alive():
            _signal_child(child, "kill")


def _signal_child(child: multiprocessing.Process, how: str) -> None:
    """``child.terminate()`` or ``child.kill()``, unless joblib's own shutdown thread has ended and released the
    process meanwhile (its handle is then gone: AttributeError or ValueError, or the process: OSError)."""
    with contextlib.suppress(AttributeError, ValueError, OSError):
        getattr(child, how)()


def unplanned_job(overrides: Sequence[str], folder: str, config: DictConfig) -> PlannedJob:
    """A job no plan placed (a searching sweeper's trial), with the folder Hydra gives it and its configuration's
    fingerprint, as its run computes it."""
    settings = OmegaConf.to_object(config)
    return PlannedJob(tuple(overrides), folder, fingerprint(config_record(settings), data_identity(settings.data)))


def _no_result(overrides: Sequence[str]) -> JobReturn:
    """The result of a job not run (or whose worker died), as the task returns it without a result (NaN)."""
    return JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED, _return_value=float("nan"))


def register() -> None:
    """Make the launcher's and the sweeper's code known to Hydra's plugin registry (their configs:
    :func:`.config.store_configs`)."""
    from hydra_plugins.nnexp_launcher.sweeper import GridSweeper

    Plugins.instance().register(OrderedJoblibLauncher)
    Plugins.instance().register(GridSweeper)
