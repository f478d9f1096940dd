"""Where a tracker logs: the settings ``tracker.*``, their nulls filled in from the sweep's (or single run's) folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nnexp.config import TrackerConfig
from nnexp.tracking.folders import MLFLOW_FOLDER, TENSORBOARD_FOLDER

SQLITE = "sqlite:///"


@dataclass(frozen=True)
class Location:
    """A tracker and where it logs: ``dir`` (TensorBoard's event files, a subfolder per run), or ``uri`` and
    ``experiment`` (MLflow), with ``artifacts``, the folder of a new experiment's artifacts (None: the store's
    default)."""

    name: str
    dir: Path | None = None
    uri: str | None = None
    experiment: str | None = None
    artifacts: Path | None = None


def locate(tracker: TrackerConfig, home: Path) -> Location:
    """Where ``tracker`` logs the runs of the sweep (or the single run) whose folder is ``home``."""
    name = tracker.name.value
    if name == "tensorboard":
        return Location(name, dir=Path(tracker.dir) if tracker.dir else home / TENSORBOARD_FOLDER)
    if name == "mlflow":
        uri = tracker.uri or f"{SQLITE}{(home / MLFLOW_FOLDER / 'mlflow.db').absolute()}"
        # a SQLite store keeps its artifacts beside its file (MLflow's default: ./mlruns, wherever the run starts)
        artifacts = Path(uri.removeprefix(SQLITE)).parent / "artifacts" if uri.startswith(SQLITE) else None
        return Location(name, uri=uri, experiment=tracker.experiment or home.absolute().name, artifacts=artifacts)
    return Location(name)


def settle(tracker: TrackerConfig, home: Path) -> None:
    """Fill in ``tracker``'s nulls from ``home``, the folder of the sweep (or single run) a run belongs to, so that a
    run knows where its sweep's tracker logs (:func:`locate`)."""
    location = locate(tracker, home)
    tracker.dir = str(location.dir) if location.dir is not None else None
    tracker.uri, tracker.experiment = location.uri, location.experiment
