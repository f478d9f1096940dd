"""A tracker opened for the runs of a sweep (checked before any run starts), and a run's log that never fails it."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Protocol

from nnexp.errors import ConfigError
from nnexp.results.summary import RunSummary
from nnexp.tracking.location import Location

# each tracker: the module of its library (imported to check it is there), its pip extra
LIBRARIES = {"tensorboard": ("tensorboardX", "tensorboard"), "mlflow": ("mlflow", "mlflow")}


class RunLog(Protocol):
    """One run's log in a tracker."""

    def epoch(self, row: dict[str, float]) -> None:
        """Log an epoch's row of ``metrics.csv`` (its ``epoch`` is the step)."""

    def end(self, summary: RunSummary, folder: Path) -> None:
        """Log how the run ended (``summary``: its ``summary.json``) and the files of its ``folder``; close."""


class Tracker(Protocol):
    """A tracker where runs are logged."""

    def logged(self, name: str, fingerprint: str, status: str) -> bool:
        """Whether the run ``name`` (configuration ``fingerprint``) is logged already, ended with ``status``."""

    def start(self, name: str, fingerprint: str, params: dict[str, Any], first_epoch: int) -> RunLog:
        """A run's log, from epoch ``first_epoch`` on (> 1: a run resumed, whose earlier epochs are logged)."""


def check_installed(location: Location) -> None:
    """:class:`ConfigError` (one line, naming the pip extra) unless the library of the tracker ``location`` names is
    installed; nothing is written (a sweep checks this before it makes its folder)."""
    if location.name == "none":
        return
    module, extra = LIBRARIES[location.name]
    try:
        importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"tracker={location.name} needs {module}, which is not installed: pip install 'nnexp[{extra}]'"
        ) from None


def open_tracker(location: Location) -> Tracker:
    """The tracker ``location`` names, its store made ready (MLflow: its experiment); :class:`ConfigError` (one line)
    when its library is not installed (naming the pip extra) or its store cannot be used."""
    check_installed(location)
    try:
        if location.name == "tensorboard":
            from nnexp.tracking.tensorboard import TensorBoard

            return TensorBoard(location.dir)
        from nnexp.tracking.mlflow import MLflow

        return MLflow(location.uri, location.experiment, location.artifacts)
    except Exception as exc:
        where = f"tracker.dir={location.dir}" if location.name == "tensorboard" else f"tracker.uri={location.uri}"
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
        raise ConfigError(f"tracker={location.name} cannot log to {where}: {reason.strip().splitlines()[0]}") from None


def check_tracker(location: Location) -> None:
    """Before any run starts: :class:`ConfigError` (one line) unless the tracker ``location`` names can be logged to."""
    if location.name != "none":
        open_tracker(location)


class TrackedRun:
    """A run's log in the tracker ``location`` names that never fails the run: the first error is a warning in the
    run's ``log`` (once), and the run goes on without its tracker."""

    def __init__(
        self, location: Location, name: str, fingerprint: str, params: dict[str, Any], first_epoch: int, log: Any
    ) -> None:
        self.location, self.log = location, log
        self.run: RunLog | None = None
        self._guarded(self._start, name, fingerprint, params, first_epoch)

    def _start(self, name: str, fingerprint: str, params: dict[str, Any], first_epoch: int) -> None:
        self.run = open_tracker(self.location).start(name, fingerprint, params, first_epoch)

    def _guarded(self, call, *args: Any) -> None:
        try:
            call(*args)
        except Exception as exc:
            self.run = None
            self.log.warning(
                "tracker=%s stopped logging this run (%s: %s); the run goes on, its own files are whole",
                self.location.name,
                type(exc).__name__,
                str(exc).strip().splitlines()[0] if str(exc).strip() else "",
            )

    def epoch(self, row: dict[str, float]) -> None:
        if self.run is not None:
            self._guarded(self.run.epoch, row)

    def end(self, summary: RunSummary, folder: Path) -> None:
        if self.run is not None:
            self._guarded(self.run.end, summary, folder)
            self.run = None
