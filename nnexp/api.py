"""nnexp from Python: sweeps and runs started as the command line starts them, their results as pandas frames.

:func:`sweep` runs ``python -m nnexp.run -m`` with the overrides its grid and settings spell, through the same
Hydra entry point, sweeper, launcher, folders and files (:mod:`nnexp.in_process`), and returns the report's
run table; :func:`load`, :func:`curves` and :func:`report` read a sweep folder as ``python -m nnexp.report``
does; :func:`train` runs one run as ``python -m nnexp.run`` does and returns it with its network. Each is
also ``nnexp.<name>``. A bad setting raises the :class:`~nnexp.errors.NnexpError` whose message is the line
the command line prints.

>>> import nnexp
>>> runs = nnexp.sweep({"hidden": [8, 16]}, data="digits", epochs=2)
>>> print(runs[["hidden", "status", "epochs_completed"]].to_string(index=False))
 hidden    status  epochs_completed
     16 completed                 2
      8 completed                 2
>>> print(runs.attrs["sweep_dir"])
multirun/data=digits,epochs=2,hidden=8,16
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the API's own imports wait for its first call: ``import nnexp`` stays light
    import numpy as np
    import pandas as pd
    from omegaconf import DictConfig

    from nnexp.data.splits import Preprocess
    from nnexp.model import MLP
    from nnexp.overrides import Value

PathLike = str | os.PathLike[str]
SWEEP_DIR = "sweep_dir"  # the frames' attrs key naming the sweep folder they were read from


def _checked(args: list[str]) -> list[str]:
    """The command line ``args`` as ``python -m nnexp.run`` runs it, once checked as it checks it (a bad value or
    key: :class:`~nnexp.errors.ConfigError`, with the line the command prints)."""
    from nnexp.command_line import check_overrides, register_configs, with_grid_sweeper

    register_configs()
    check_overrides(args)
    return with_grid_sweeper(args)


def _composed(args: list[str]) -> DictConfig:
    """The configuration the command line ``args`` names, Hydra's node included, as the command composes it
    (each sweep at its first value) with Hydra's record of the command's overrides as typed
    (``hydra.overrides.task`` / ``.hydra``), which the sweep folder's name is made from."""
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import open_dict, read_write

    from nnexp.command_line import COMPOSE_OPTIONS, CONFIG_NAME, MULTIRUN_FLAGS, first_values
    from nnexp.resources import CONFIG_DIR

    with initialize_config_dir(config_dir=str(CONFIG_DIR), **COMPOSE_OPTIONS):
        config = compose(config_name=CONFIG_NAME, overrides=first_values(args), return_hydra_config=True)
    typed = OverridesParser.create().parse_overrides([arg for arg in args if arg not in MULTIRUN_FLAGS])
    with read_write(config.hydra), open_dict(config.hydra):
        config.hydra.overrides.task = [o.input_line for o in typed if not o.is_hydra_override()]
        config.hydra.overrides.hydra = [o.input_line for o in typed if o.is_hydra_override()]
    return config


def _made_by_fresh(named: Path, before: set[Path]) -> Path:
    """The folder a ``fresh=true`` sweep made beside the others of its command (``name@<date_time>``; ``named``
    is the one it would have made when its command was checked, a second or so before it started)."""
    stem = named.name.rpartition("@")[0]
    made = sorted(set(named.parent.glob(f"{stem}@*")) - before)
    return made[-1] if made else named


def sweep(
    grid: Mapping[str, Iterable[Value]] | None = None, /, *, dir: PathLike | None = None, **settings: Value
) -> pd.DataFrame:
    """Run a sweep as ``python -m nnexp.run -m`` runs it; one row per run of it: its folder (``run``), ``status``,
    settings and final metrics (the report's run table, :func:`nnexp.report.runs.load_runs`).

    ``grid`` maps a setting to its values (``{"hidden": [32, 64], "activation": ["relu", "tanh"]}``: 4 runs);
    ``settings`` are the other overrides (``data="digits"``; keys a Python name cannot spell as a dict:
    ``**{"data.val_size": 0.2, "hydra.launcher.n_jobs": 1}``). Values are spelled as on the command line: numbers,
    strings, ``True``/``False``, ``None``, lists (``hidden=[128, 64]``). The sweep goes into ``dir``, else where
    the command line puts it (``multirun/<its overrides>`` under the current folder), so the same call
    continues its sweep: finished runs are skipped, interrupted ones resume. Progress: a line per run that ends,
    and a bar (a widget in a notebook). The frame's ``attrs["sweep_dir"]`` names the sweep folder.

    Raises :class:`~nnexp.errors.ConfigError` for a bad value or key (before any run, with the command line's
    message), and :class:`~nnexp.training.interrupt.Interrupted` when a signal stopped the sweep (a notebook's
    interrupt: SIGINT); failed runs are rows with status ``failed``, and a warning.

    >>> import nnexp
    >>> runs = nnexp.sweep({"hidden": [8, 16]}, data="digits", epochs=2)  # again: its runs finished already
    >>> runs["status"].tolist()
    ['completed', 'completed']
    >>> nnexp.sweep({"lr": [0.1, "fast"]}, data="digits")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    nnexp.errors.ConfigError: in the run lr=fast data=digits: lr: Value 'fast' ... could not be converted to Float
    """
    from nnexp.in_process import run_entry_point
    from nnexp.overrides import command_overrides, spelled

    overrides = command_overrides(grid or {}, settings)
    if dir is not None:
        overrides.append(f"hydra.sweep.dir={spelled('hydra.sweep.dir', dir)}")
    args = _checked(["-m", *overrides])
    config = _composed(args)
    sweep_dir = Path(config.hydra.sweep.dir)
    fresh = bool(config.fresh) and dir is None
    before = set(sweep_dir.parent.glob("*")) if fresh else set()
    status = run_entry_point(args)
    if fresh:
        sweep_dir = _made_by_fresh(sweep_dir, before)
    runs = _own_runs(sweep_dir)
    if status:
        warnings.warn(
            f"the sweep ended with exit status {status}, as python -m nnexp.run would (a failed run, a full disk or a"
            " report not built: its lines above say which); the status column says how each run ended",
            stacklevel=2,
        )
    return runs


def _own_runs(sweep_dir: Path) -> pd.DataFrame:
    """The runs of the sweep this process has just planned into ``sweep_dir`` (not those of other sweeps into it)."""
    from nnexp.sweep.plan import own_jobs

    runs = load(sweep_dir)
    jobs = own_jobs(sweep_dir)
    if jobs is None or runs.empty:  # a searching sweeper plans as it goes: every run of the folder
        return runs
    own = runs[runs["run"].isin({job.result_dir for job in jobs})].reset_index(drop=True)
    own.attrs[SWEEP_DIR] = sweep_dir
    return own


def load(sweep_dir: PathLike) -> pd.DataFrame:
    """One row per run of the folder ``sweep_dir`` (a sweep's or a run's): its ``run`` folder, ``status``,
    settings and final metrics, as the report's ``runs.csv``; runs planned but not started have status
    ``missing``. ``attrs["sweep_dir"]`` names the folder.

    >>> import nnexp
    >>> runs = nnexp.sweep({"hidden": [8, 16]}, data="digits", epochs=2)
    >>> nnexp.load(runs.attrs["sweep_dir"])[["hidden", "test_acc"]].equals(runs[["hidden", "test_acc"]])
    True
    """
    from nnexp.errors import ReportError
    from nnexp.report.runs import load_runs

    folder = Path(sweep_dir)
    if not folder.is_dir():
        raise ReportError(f"{folder} is not a folder; give the folder of a sweep (multirun/...) or of a run")
    runs = load_runs(folder)
    runs.attrs[SWEEP_DIR] = folder
    return runs


def curves(sweep_dir: PathLike) -> pd.DataFrame:
    """The per-epoch metrics of every run of ``sweep_dir``, one row per run and epoch (``metrics.csv``'s columns:
    ``epoch``, ``train_loss``, ``val_acc`` ...), with the run's folder (``run``) and settings; runs without
    metrics have no rows, and an unreadable ``metrics.csv`` is skipped with a warning.

    >>> import nnexp
    >>> runs = nnexp.sweep({"hidden": [8, 16]}, data="digits", epochs=2)
    >>> nnexp.curves(runs.attrs["sweep_dir"]).groupby("hidden")["epoch"].max().to_dict()
    {8: 2, 16: 2}
    """
    from nnexp.report.runs import load_curves

    folder = Path(sweep_dir)
    frame, _ = load_curves(folder, load(folder))
    frame.attrs[SWEEP_DIR] = folder
    return frame


def report(
    sweep_dir: PathLike,
    *,
    out: PathLike | None = None,
    rows: str = "hidden",
    cols: str = "activation",
    metrics: Sequence[str] = ("test_acc", "train_seconds"),
    published: Sequence[PathLike] = (),
    jobs: int = 1,
) -> Path:
    """Build the report of ``sweep_dir`` as ``python -m nnexp.report`` does (into ``out``, else
    ``<sweep_dir>/report``); the path of its ``index.html``. ``rows`` x ``cols``: the tables' layout, one table
    per metric; ``published``: tables of ``experiments/`` to compare with; ``jobs``: processes drawing the
    figures (-1: one per core). Raises :class:`~nnexp.errors.ReportError` for a folder without runs or an
    option it has no column for.

    >>> import nnexp
    >>> runs = nnexp.sweep({"hidden": [8, 16]}, data="digits", epochs=2)
    >>> print(nnexp.report(runs.attrs["sweep_dir"], out="digits_report", metrics=["test_acc"]))
    digits_report/index.html
    """
    from nnexp.errors import ConfigError
    from nnexp.parent_watch import worker_options
    from nnexp.report.build import build_report, report_folder

    if jobs == 0 or jobs < -1:
        raise ConfigError(f"jobs={jobs} is invalid; allowed: an int >= 1, or -1 (one per core)")
    folder = Path(sweep_dir)
    index = build_report(
        folder,
        Path(out) if out is not None else report_folder(folder),
        rows,
        cols,
        list(metrics),
        [Path(table) for table in published],
        {"n_jobs": jobs, **worker_options()} if jobs != 1 else None,
    )
    return index.with_name("index.html")


@dataclass(frozen=True)
class TrainedRun:
    """A run :func:`train` ran: its folder, ``summary.json`` (a dict), ``metrics.csv`` (one row per epoch) and the
    network it saved with its input preprocessing (None where it saved none: ``save_model=False``, or a run
    that did not complete)."""

    dir: Path
    summary: dict[str, Any]
    metrics: pd.DataFrame
    model: MLP | None
    preprocess: Preprocess | None

    @classmethod
    def read(cls, folder: Path) -> TrainedRun:
        """The run in ``folder``, from its files."""
        import pandas as pd

        from nnexp.results import METRICS_FILE, SUMMARY_FILE, RunStatus, read_summary
        from nnexp.results.model_file import MODEL_FILE, load_model

        summary = read_summary(folder / SUMMARY_FILE)
        metrics = pd.read_csv(folder / METRICS_FILE)
        saved = summary["status"] == RunStatus.completed and (folder / MODEL_FILE).exists()
        model, preprocess, _ = load_model(folder / MODEL_FILE) if saved else (None, None, None)
        return cls(folder, summary, metrics, model, preprocess)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """The class (n,) of each of ``images``: raw pixels (n, height, width) or (n, pixels), as the data set has
        them (preprocessed here as in training). For ``task=one_vs_all``: 1 for the positive class, else 0."""
        from nnexp.errors import ConfigError

        if self.model is None or self.preprocess is None:
            raise ConfigError(f"{self.dir} has no saved network; train with save_model=True to keep it")
        return self.model.predict(self.preprocess(images).astype(self.model.dtype))


def train(*, dir: PathLike | None = None, **settings: Value) -> TrainedRun:
    """Run one run as ``python -m nnexp.run`` runs it, with ``save_model=True`` unless told otherwise (the settings
    are spelled as for :func:`sweep`); the run, with its network. It goes into ``dir``, else where the command
    line puts it (``outputs/<date_time>`` under the current folder). A folder holding this configuration's
    finished run is not trained again.

    Raises :class:`~nnexp.errors.ConfigError` for a bad value or key (nothing written), the run's error if it
    fails (also recorded in its folder), :class:`~nnexp.training.interrupt.Interrupted` when a signal stopped
    it (a checkpoint kept: the same call resumes it).

    >>> import nnexp
    >>> from sklearn.datasets import load_digits
    >>> run = nnexp.train(data="digits", hidden=32, epochs=5)
    >>> run.summary["status"], run.metrics["epoch"].tolist()
    ('completed', [1, 2, 3, 4, 5])
    >>> run.predict(load_digits().images[:4]).shape
    (4,)
    """
    from nnexp.errors import NnexpError
    from nnexp.in_process import run_entry_point
    from nnexp.overrides import setting_overrides, spelled

    overrides = setting_overrides({"save_model": True, **settings})
    if dir is not None:
        overrides.append(f"hydra.run.dir={spelled('hydra.run.dir', dir)}")
    args = _checked(overrides)
    run_dir = Path(_composed(args).hydra.run.dir)
    if dir is None:  # the command line's folder, named by the time now: this run's
        args.append(f"hydra.run.dir={spelled('hydra.run.dir', run_dir)}")
    status = run_entry_point(args)
    if status:
        raise NnexpError(f"the run in {run_dir} ended with exit status {status}")
    return TrainedRun.read(run_dir)
