"""TensorBoard: a run's event files in a folder of its own (tensorboardX, no TensorFlow), its settings and final
metrics as an HParams session, so that a sweep's grid appears in TensorBoard's HParams tab."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from tensorboardX import SummaryWriter

from nnexp.places import make_writable
from nnexp.results.summary import FINAL_METRICS, RunSummary

LOGGED = "nnexp-run.json"  # in a run's folder of event files once its log is complete: its fingerprint and status
HPARAMS_PREFIX = "hparams/"  # the final metrics' tags in the HParams session (apart from the per-epoch series)
# tensorboardX's logger that warns of each NaN logged
NAN_WARNINGS = "tensorboardX.x2num"
# the HParams session goes into the run's own folder (add_hparams' name; its default: a subfolder named by the time),
# in an event file of its own: the epochs' file has a suffix (two files opened in the same second would have one name)
EPOCHS_SUFFIX = ".epochs"
SESSION = "."


def final_metrics(summary: RunSummary) -> dict[str, float]:
    """The HParams session's metrics: the kept epoch's (``summary.json``'s final metrics), best and timing."""
    keys = (*FINAL_METRICS, "best_val_acc", "train_seconds")
    return {f"{HPARAMS_PREFIX}{key}": float(getattr(summary, key)) for key in keys}


class TensorBoard:
    """Event files under ``root``, a subfolder per run (named as the run's folder in its sweep)."""

    def __init__(self, root: Path) -> None:
        make_writable(root)
        self.root = root

    def logged(self, name: str, fingerprint: str, status: str) -> bool:
        marker = self.root / name / LOGGED
        try:
            return json.loads(marker.read_text()) == {"fingerprint": fingerprint, "status": status}
        except (OSError, ValueError):
            return False

    def start(self, name: str, fingerprint: str, params: dict[str, Any], first_epoch: int) -> _RunLog:
        folder = self.root / name
        (folder / LOGGED).unlink(missing_ok=True)
        if first_epoch == 1:  # from its start: an earlier attempt's events go
            for events in folder.glob("events.out.tfevents.*"):
                events.unlink()
        return _RunLog(folder, fingerprint, params, first_epoch)


class _RunLog:
    def __init__(self, folder: Path, fingerprint: str, params: dict[str, Any], first_epoch: int) -> None:
        self.folder, self.fingerprint, self.params = folder, fingerprint, params
        # a resumed run: events past its checkpoint, of the attempt it resumes, are hidden (purge_step)
        # a metric with no value (h1_dead of a sigmoid layer, a failed run's) is logged as NaN, as metrics.csv has it,
        # without a warning for each (set here: a notebook's sweep puts the process's logging back as it was)
        logging.getLogger(NAN_WARNINGS).setLevel(logging.ERROR)
        purge = first_epoch if first_epoch > 1 else None
        self.writer = SummaryWriter(logdir=str(folder), purge_step=purge, filename_suffix=EPOCHS_SUFFIX)

    def epoch(self, row: dict[str, float]) -> None:
        step = int(row["epoch"])
        for key, value in row.items():
            if key != "epoch":
                self.writer.add_scalar(key, float(value), step)
        self.writer.flush()

    def end(self, summary: RunSummary, folder: Path) -> None:
        status = summary.status.value
        hparams = {**self.params, "status": status}
        step = summary.kept_epoch or summary.epochs_completed or 0
        self.writer.add_hparams(hparams, final_metrics(summary), name=SESSION, global_step=int(step))
        self.writer.close()
        (self.folder / LOGGED).write_text(json.dumps({"fingerprint": self.fingerprint, "status": status}))
