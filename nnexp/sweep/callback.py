"""Hydra callback of a sweep: the plan (nnexp.sweep.planning) before it starts, progress, report and exit status;
and of a single run: its settings and data checked before Hydra makes its folder.

Everything here reads and writes files in the sweep folder, because Hydra passes
``on_multirun_end`` no job results and runs ``on_job_end`` inside the worker process.
The report's modules (pandas, matplotlib) are imported where they are used: the workers
load this module before their first run, and need them only to draw the report at the end.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from hydra_plugins.nnexp_launcher import OrderedJoblibLauncherConf
from hydra_plugins.nnexp_launcher.ordered_joblib import (
    JOBLIB_LAUNCHERS,
    end_workers,
    parallel_settings,
    start_workers_early,
)
from joblib import effective_n_jobs
from omegaconf import DictConfig, OmegaConf, open_dict

from nnexp.config import Config
from nnexp.console import RESULT_LINE
from nnexp.data.loading import prepare_data
from nnexp.domains import invalid
from nnexp.errors import ConfigError, NnexpError
from nnexp.places import make_writable
from nnexp.results import FINISHED, SUMMARY_FILE, RunStatus, status_counts
from nnexp.results.files import disk_full_message, is_disk_full
from nnexp.results.plan_file import PlannedJob, read_plan
from nnexp.sweep.plan import (
    distinct_runs,
    latest_jobs,
    merge_plan,
    own_jobs,
    plan_version,
    remember_jobs,
)
from nnexp.sweep.planning import check_memory, plan_sweep
from nnexp.sweep.progress import SweepProgress
from nnexp.sweep.provenance import provenance
from nnexp.sweep.study import optuna_lines_to_console, resume_study
from nnexp.tracking.location import locate
from nnexp.tracking.opening import check_installed, check_tracker
from nnexp.training.spec import RunSpec

log = logging.getLogger(__name__)

WATCH_SECONDS = 0.5
# How many times a sweep plans when other sweeps keep planning into its folder meanwhile
PLAN_ATTEMPTS = 3
# What a worker imports before its first run: the task's module, and this one (Hydra sends callbacks with every job)
RUN_MODULES = ["nnexp.task", __name__]
DRAWING_MODULE = "nnexp.report.figures"  # matplotlib's ~0.8 s, imported by a worker while it waits for its first run


def worker_settings(launcher: DictConfig) -> dict[str, Any] | None:
    """``joblib.Parallel``'s settings of the joblib launcher's worker processes, which run the runs and draw the
    report's figures (None: no worker processes, everything runs in this one)."""
    if launcher.get("_target_") not in JOBLIB_LAUNCHERS or effective_n_jobs(launcher.get("n_jobs")) == 1:
        return None
    return parallel_settings(OmegaConf.to_container(launcher, resolve=True))


def start_sweep_workers(config: DictConfig) -> None:
    """Start the worker processes of nnexp's joblib launcher for the sweep ``config`` describes, each importing the
    run's code (and the report's drawing, if the sweep draws one), without waiting: the launcher takes them over.
    Nothing for another launcher, one worker, or workers started already with these settings."""
    launcher = config.hydra.launcher
    _check_launcher(launcher)
    workers = worker_settings(launcher)
    if workers is not None and launcher.get("_target_") == OrderedJoblibLauncherConf._target_:
        drawing = [DRAWING_MODULE] if config.report.enabled else []
        start_workers_early(workers, RUN_MODULES, drawing)


def runs_to_start(jobs: list[PlannedJob]) -> list[PlannedJob]:
    """The jobs of a sweep that run: one per configuration, not finished before."""
    return [job for job in distinct_runs(jobs) if job.runs]


def all_started(sweep_dir: Path, runs: list[PlannedJob]) -> bool:
    """Whether every one of ``runs`` has started (Hydra has written its folder's ``.hydra``)."""
    return all((sweep_dir / job.dir / ".hydra").is_dir() for job in runs)


def finished_since(sweep_dir: Path, runs: list[PlannedJob], since: float) -> int:
    """How many of ``runs`` have written their summary since ``since`` (a timestamp)."""
    done = 0
    for job in runs:
        with contextlib.suppress(OSError):
            done += (sweep_dir / job.dir / SUMMARY_FILE).stat().st_mtime >= since
    return done


def latest_start(sweep_dir: Path) -> float:
    """When the latest sweep that planned runs into ``sweep_dir`` started (a timestamp)."""
    plan = read_plan(sweep_dir)
    assert plan is not None and plan.latest is not None, f"{sweep_dir} has no plan"  # the sweep has just merged it
    return datetime.fromisoformat(plan.latest.started).timestamp()


def idle_before_report(sweep_dir: Path, runs: list[PlannedJob], finished: int) -> bool:
    """Whether a worker that has just finished one of ``runs`` will idle until the report: every run has
    started and some are still running (``finished`` of them are done).

    (The worker finishing the last run goes straight on to the report: it prepares nothing.)
    """
    return finished < len(runs) and all_started(sweep_dir, runs)


def _import_report_when_all_started(sweep_dir: Path, runs: list[PlannedJob], stop: threading.Event) -> None:
    """(A thread of the sweep's process) import the report's modules once every run has started:
    from then on a worker, and a core, is idle."""
    while not stop.wait(WATCH_SECONDS):
        if all_started(sweep_dir, runs):
            import nnexp.report.build  # noqa: F401

            return


def _check_launcher(launcher: DictConfig) -> None:
    n_jobs = launcher.get("n_jobs")
    if n_jobs is not None and (not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -os.cpu_count()):
        raise invalid("hydra.launcher.n_jobs", n_jobs, "a number of processes >= 1, or -1 for one per core")


def _check_fresh(config: DictConfig) -> None:
    """``fresh=true`` makes a new folder only where the folder is named by the command (not by a preset, a search
    or ``hydra.sweep.dir=``): elsewhere it would do nothing, and a second sweep would go into the first one's folder."""
    named_by_command = "nnexp_sweep_name" in str(OmegaConf.to_container(config.hydra.sweep, resolve=False)["dir"])
    if config.fresh and not named_by_command:
        raise ConfigError(
            f"fresh=true does nothing here: hydra.sweep.dir={config.hydra.sweep.dir} names the sweep's folder;"
            " allowed: fresh=true with the default folder, or another hydra.sweep.dir for a new sweep"
        )


def _check_folder(folder: Path, key: str) -> None:
    """The output folder that ``key`` (``hydra.sweep.dir``, ``hydra.run.dir``) names can be made and written: else
    one line naming it."""
    try:
        make_writable(folder)
    except OSError as exc:
        raise ConfigError(
            f"{key}={folder.absolute()} cannot be written ({exc.strerror}); allowed: a folder you can write to"
        ) from None


def run_settings(config: DictConfig) -> Config:
    """The typed settings of a run: ``config`` without its hydra node."""
    task = config.copy()
    with open_dict(task):
        del task["hydra"]
    return OmegaConf.to_object(task)


def _check_report(config: DictConfig) -> None:
    """The report's options (rows, cols, metrics, published tables) checked before any run."""
    from nnexp.report.options import check_sweep_options
    from nnexp.training.spec import config_record

    check_sweep_options(config_record(run_settings(config)), config.report)


class SweepCallback(Callback):
    """Validates every run and writes the sweep plan, logs progress, builds the report, sets the exit status;
    checks a single run before Hydra makes its folder."""

    # live in the sweep's own process only
    _progress: SweepProgress | None = None
    _report_imports: tuple[threading.Thread, threading.Event] | None = None

    def __getstate__(self) -> dict:
        """Hydra sends the callbacks to the worker processes; the progress bar and threads stay here."""
        state = self.__dict__.copy()
        state.pop("_progress", None)
        state.pop("_report_imports", None)
        return state

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        """A single run: its settings checked and its data prepared (downloaded if need be) before Hydra makes its
        folder, so that bad input, or data that cannot be had, writes nothing: one line, exit status 2 (so does a run
        folder that cannot be written)."""
        try:
            settings = run_settings(config)
            RunSpec.from_settings(settings)
            prepare_data(settings.data)
            tracker = locate(settings.tracker, Path(config.hydra.run.dir))
            check_installed(tracker)
            _check_folder(Path(config.hydra.run.dir), "hydra.run.dir")
            check_tracker(tracker)
        except NnexpError as exc:
            log.error("error: %s (no run was started)", exc)
            sys.exit(2)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Check and plan the sweep; any failure ends it here, with one line (Hydra would only warn)."""
        try:
            self._start(config)
        except SystemExit:
            end_workers()  # started while the sweep was planned
            raise
        except Exception as exc:
            end_workers()
            log.error("error: the sweep could not be planned: %s: %s (no run was started)", type(exc).__name__, exc)
            sys.exit(1)

    def _start(self, config: DictConfig) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            _check_fresh(config)
            start_sweep_workers(config)  # unless the command line started them: while the sweep is planned
            if config.report.enabled:
                _check_report(config)
            joblib = config.hydra.launcher.get("_target_") in JOBLIB_LAUNCHERS
            at_once = effective_n_jobs(config.hydra.launcher.get("n_jobs")) if joblib else 1
            version = plan_version(sweep_dir)
            jobs = plan_sweep(config, sweep_dir, at_once)
            if jobs is not None and joblib:
                check_memory(jobs, at_once)
            tracker = locate(config.tracker, sweep_dir)
            check_installed(tracker)
            _check_folder(sweep_dir, "hydra.sweep.dir")  # made last: a sweep that cannot start leaves no folder behind
            check_tracker(tracker)  # its store, in the folder (MLflow: its experiment made here, not by each worker)
        except NnexpError as exc:
            log.error("error: %s (no run was started)", exc)
            sys.exit(2)
        started = datetime.now(UTC).isoformat(timespec="seconds")
        origin = provenance(list(config.hydra.overrides.hydra), list(config.hydra.overrides.task), started)
        jobs = self._merge_plan(config, sweep_dir, at_once, jobs, version, started, origin)
        runs = distinct_runs(jobs) if jobs is not None else None
        total = len(runs) if runs is not None else None
        optuna_lines_to_console(config)
        resume_study(config)  # a search's study: the trials of a search that died are failed and retried first
        if jobs is not None:
            remember_jobs(sweep_dir, jobs)
            if not runs_to_start(jobs):  # nothing to run: the workers started while planning are not needed
                end_workers()
        skipped = sum(job.finished_before for job in runs or [])
        same = sum(1 for job in jobs or [] if job.same_as is not None)
        self._progress = SweepProgress(sweep_dir, [job.dir for job in runs] if runs is not None else None, skipped)
        if config.report.enabled and worker_settings(config.hydra.launcher) and jobs is not None:
            stop = threading.Event()
            args = (sweep_dir, runs_to_start(jobs), stop)
            thread = threading.Thread(target=_import_report_when_all_started, args=args, daemon=True)
            thread.start()
            self._report_imports = thread, stop
        resume = f"; {skipped} finished already and are skipped (force=true reruns them)" if skipped else ""
        twins = f"; {same} jobs repeat the configuration of another run and are not run again" if same else ""
        log.info("sweep of %s runs into %s%s%s", total or "?", sweep_dir, resume, twins)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        """(In a worker) prepare the report's drawing when this worker will idle until the report."""
        if not config.report.enabled or not worker_settings(config.hydra.launcher):
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        jobs = latest_jobs(sweep_dir)  # this process did not plan the sweep: the latest plan says what it runs
        if jobs is None:  # a single run, or a searching sweeper's
            return
        runs = runs_to_start(jobs)
        if idle_before_report(sweep_dir, runs, finished_since(sweep_dir, runs, latest_start(sweep_dir))):
            from nnexp.report.render import prepare_drawing

            prepare_drawing()

    @staticmethod
    def _merge_plan(
        config: DictConfig,
        sweep_dir: Path,
        at_once: int,
        jobs: list[PlannedJob] | None,
        version: str | None,
        started: str,
        origin: dict[str, Any],
    ) -> list[PlannedJob] | None:
        """Merge the sweep's ``jobs``, planned from the plan's ``version``, into the folder's plan; planned again while
        another sweep has planned into the folder meanwhile (its folders are then taken); the jobs merged."""
        for attempt in range(1, PLAN_ATTEMPTS + 1):
            try:
                if merge_plan(sweep_dir, started, origin, jobs, version):
                    return jobs
            except OSError as exc:
                reason = disk_full_message(exc, sweep_dir) if is_disk_full(exc) else f"{exc.strerror}: {exc.filename}"
                log.error("error: the sweep plan cannot be written (%s); no run was started", reason)
                sys.exit(1)
            if attempt == PLAN_ATTEMPTS:
                break
            log.info("another sweep planned into %s meanwhile: planning again", sweep_dir)
            version = plan_version(sweep_dir)
            try:
                jobs = plan_sweep(config, sweep_dir, at_once)
            except NnexpError as exc:
                log.error("error: %s (no run was started)", exc)
                sys.exit(2)
        log.error(
            "error: other sweeps planned into %s %d times while this one planned; no run was started: run the"
            " same command again",
            sweep_dir,
            PLAN_ATTEMPTS,
        )
        sys.exit(1)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Build the report and set the exit status: 1 when a run failed or the report could not be built.

        Hydra turns an exception raised here into a warning (and exit status 0), so every failure of
        this stage is said in one line and ends the sweep with ``sys.exit``; the results on disk stay.
        When the sweep itself ended with an exception (Hydra >= 1.4 calls this on the way out), that exception
        and its exit status stand: no report, no exit of this stage's own.
        """
        ending_by = sys.exc_info()[1]
        if self._progress is not None:
            self._progress.close()
            self._progress = None
        if self._report_imports is not None:
            thread, stop = self._report_imports
            stop.set()
            thread.join()
            self._report_imports = None
        if ending_by is not None:
            end_workers()
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            failed = self._summarise(sweep_dir) > 0
        except Exception as exc:  # the runs' files could not be read: say so, never report success
            log.error("error: the sweep's results could not be read: %s: %s", type(exc).__name__, exc)
            failed = True
        try:
            report_built = self._build_report(config, sweep_dir) if config.report.enabled else True
        finally:  # also when a signal stops the drawing: the workers' semaphores are released here, before exit
            end_workers()
        if failed or not report_built:
            sys.exit(1)

    @staticmethod
    def _build_report(config: DictConfig, sweep_dir: Path) -> bool:
        """Build the sweep's report, and say where in the sweep's last line; whether it was built (if not, the
        last line says why)."""
        from nnexp.report.build import build_report, report_folder
        from nnexp.report.inputs import is_up_to_date, record_inputs, report_inputs

        report = config.report
        out_dir = Path(report.dir) / sweep_dir.name if report.dir else report_folder(sweep_dir)
        options = {
            "rows": report.rows,
            "cols": report.cols,
            "metrics": list(report.metrics),
            "published": list(report.published),
        }
        digest = report_inputs(sweep_dir, out_dir, options)
        if is_up_to_date(out_dir, digest):
            log.info("report: %s (up to date)", out_dir / "index.html", extra=RESULT_LINE)
            return True
        try:
            index = build_report(sweep_dir, out_dir, **options, parallel=worker_settings(config.hydra.launcher))
            record_inputs(out_dir, digest)
        except Exception as exc:  # the runs are on disk; say why the report is missing
            reason = str(exc) if isinstance(exc, NnexpError) else f"{type(exc).__name__}: {exc}"
            rebuild = f"python -m nnexp.report {sweep_dir}" + (f" --out {out_dir}" if report.dir else "")
            log.error("error: report not built: %s (rebuild with: %s)", reason, rebuild)
            return False
        log.info("report: %s (index.md beside it)", index.with_name("index.html"), extra=RESULT_LINE)
        return True

    @staticmethod
    def _summarise(sweep_dir: Path) -> int:
        """Log how the sweep's runs ended; the number that failed."""
        import pandas as pd

        from nnexp.report.runs import load_runs

        runs = load_runs(sweep_dir)
        jobs = own_jobs(sweep_dir)
        taken: list[str] = []
        if jobs is not None and not runs.empty:  # this sweep's runs
            runs = runs[runs["run"].isin([job.result_dir for job in jobs])]
            # a run that found its folder taken by another configuration's result (another sweep's, planned
            # into the same folder at the same time) refused to overwrite it: that result is not this sweep's
            results = runs[runs["status"].isin(FINISHED)]
            held = dict(zip(results["run"], results["fingerprint"], strict=True)) if "fingerprint" in results else {}
            taken = [job.dir for job in distinct_runs(jobs) if held.get(job.dir, job.fingerprint) != job.fingerprint]
            runs = runs[~runs["run"].isin(taken)]
        statuses = runs["status"] if not runs.empty else pd.Series(dtype=str)
        skipped = sum(job.finished_before for job in distinct_runs(jobs or []))
        log.info(
            "sweep done: %s%s",
            status_counts([*statuses, *[RunStatus.failed] * len(taken)]) or "no runs",
            f" ({skipped} of them skipped as finished before)" if skipped else "",
            extra=RESULT_LINE,
        )
        failed = runs[statuses == RunStatus.failed]
        if len(failed):
            log.error("%d runs failed; their error.txt says why: %s", len(failed), ", ".join(failed["run"]))
        if taken:
            log.error(
                "%d runs did not run: another configuration's result holds their folder: %s",
                len(taken),
                ", ".join(taken),
            )
        return len(failed) + len(taken)
