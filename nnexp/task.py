"""The Hydra task of ``python -m nnexp.run``: one training run in its output folder (:func:`main`).

Data flow: config (checked: :mod:`nnexp.training.spec`) -> data (:mod:`nnexp.data`) ->
model (:mod:`nnexp.model`) -> training loop -> metrics.csv per epoch and summary.json
(:mod:`nnexp.results`), all in the run's Hydra output folder. A sweep adds the plan,
progress and the report (:mod:`nnexp.sweep`, :mod:`nnexp.report`). The launcher's worker
processes import this module (the task's) before their first run.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra_plugins.nnexp_launcher.ordered_joblib import register as register_launcher
from omegaconf import DictConfig, OmegaConf

from nnexp.command_line import CONFIG_NAME, MAIN_OPTIONS, register_configs
from nnexp.config import Config, TrackerName
from nnexp.console import RESULT_LINE, a_sweep_line, not_an_epoch_line
from nnexp.errors import NnexpError
from nnexp.resources import CONFIG_DIR
from nnexp.results import METRICS_FILE, SUMMARY_FILE, RunStatus, RunSummary
from nnexp.results.model_file import MODEL_FILE
from nnexp.sweep.grid import runs_a_grid
from nnexp.sweep.pack_job import PackRole, member_logs, pack_role, unforced
from nnexp.training import execute
from nnexp.training.interrupt import Interrupted
from nnexp.training.job import execute_pack

log = logging.getLogger("nnexp.run")


register_configs()
register_launcher()  # the launcher's code: Hydra's plugin scan misses it in an editable install


def quiet_console(verbose: bool, in_sweep: bool) -> None:
    """What the console shows of a run (a filter on the console handlers Hydra has set up for it): everything
    with ``verbose=true``; else no per-epoch line, and in a sweep only the run's warnings and errors (the
    sweep says in one line how each run ended). The run's log file has every line."""
    for handler in logging.getLogger().handlers:
        if not isinstance(handler, logging.FileHandler):
            handler.removeFilter(not_an_epoch_line)
            handler.removeFilter(a_sweep_line)
            if not verbose:
                handler.addFilter(a_sweep_line if in_sweep else not_an_epoch_line)


def shown(path: Path) -> Path:
    """``path`` as the user sees it: relative to the current folder when it is below it."""
    return path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path


def launcher_cpus() -> int:
    """CPUs the launcher gives each run (``hydra.launcher.cpus_per_task``, e.g. SLURM); 1 if it names none."""
    return int(HydraConfig.get().launcher.get("cpus_per_task") or 1)


@hydra.main(config_path=str(CONFIG_DIR), config_name=CONFIG_NAME, **MAIN_OPTIONS)
def main(cfg: DictConfig) -> float:
    """Hydra task: one training run; returns the final validation accuracy (for sweepers).

    In a grid sweep, a failed run is recorded in its folder and the sweep goes on; a
    single run exits with status 2 for bad input or data, 143 / 130 when SIGTERM / SIGINT stopped it
    (with a checkpoint to resume from), 1 for any other error. A
    searching sweeper (Optuna) is told of failed and diverged runs by an exception,
    which it counts as a failed trial (a NaN objective would stop it).
    """
    # a launcher restoring Hydra's state for this job re-discovers the plugins and forgets those registered by hand,
    # nnexp's: the next sweep of this process needs them (a job run in the sweep's own process: n_jobs=1)
    register_launcher()
    hydra_cfg = HydraConfig.get()
    searching = hydra_cfg.mode == RunMode.MULTIRUN and not runs_a_grid(str(hydra_cfg.sweeper.get("_target_")))
    settings: Config = OmegaConf.to_object(cfg)
    if settings.blas_threads is None:
        settings.blas_threads = launcher_cpus()
    quiet_console(settings.verbose, in_sweep=hydra_cfg.mode == RunMode.MULTIRUN)
    out_dir = Path(hydra_cfg.runtime.output_dir)
    role = PackRole()
    if hydra_cfg.mode == RunMode.MULTIRUN:
        sweep_dir = Path(str(hydra_cfg.sweep.dir))
        role = pack_role(
            sweep_dir, str(hydra_cfg.sweep.subdir), hydra_cfg.job.config_name, list(hydra_cfg.overrides.hydra)
        )
        if role.packed_by:
            settings = unforced(settings, out_dir, role.sweep_started)
    home = Path(str(hydra_cfg.sweep.dir)) if hydra_cfg.mode == RunMode.MULTIRUN else out_dir
    for one in [settings, *(member for _, member in role.members)]:
        if one.tracker.name is not TrackerName.none:
            from nnexp.tracking.location import settle

            settle(one.tracker, home)
    try:
        summary = _execute(settings, out_dir, role, f"{hydra_cfg.job.name}.log")
    except Exception as exc:
        if hydra_cfg.mode == RunMode.RUN:
            sys.exit(exc.exit_status if isinstance(exc, Interrupted) else 2 if isinstance(exc, NnexpError) else 1)
        if searching:
            raise
        return float("nan")
    if hydra_cfg.mode == RunMode.RUN:
        files = [METRICS_FILE, SUMMARY_FILE, MODEL_FILE, f"{hydra_cfg.job.name}.log"]
        kept = ", ".join(name for name in files if (out_dir / name).exists())
        log.info("results in %s/ (%s)", shown(out_dir), kept, extra=RESULT_LINE)
    if searching and summary.status != RunStatus.completed:
        raise RuntimeError(f"run {summary.status}: no objective value for the search")
    return float(summary.val_acc)


def _execute(settings: Config, out_dir: Path, role: PackRole, log_name: str) -> RunSummary:
    """The run (:func:`nnexp.training.execute`), with the other members of its pack when it leads one
    (:func:`nnexp.training.job.execute_pack`, each member's lines in its own log file); its summary."""
    if not role.members:
        return execute(settings, out_dir)
    folders, members = [folder for folder, _ in role.members], [member for _, member in role.members]
    for member in members:
        if member.blas_threads is None:
            member.blas_threads = settings.blas_threads
    with member_logs([folder / log_name for folder in folders]) as logs:
        outcome = execute_pack([settings, *members], [out_dir, *folders], [log, *logs])[0]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome
