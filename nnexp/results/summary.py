"""The summary record of a run (``summary.json``) and the per-epoch columns of ``metrics.csv``.

The report's tables and ``runs.csv`` take their outcome columns from :class:`RunSummary`,
so a new summary field is known everywhere once it is added here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from nnexp.results.status import RunStatus

SPLITS = ("train", "val", "test")
# One row per epoch of metrics.csv (the diagnostics' columns follow these).
EPOCH_COLUMNS = (
    "epoch",
    "learning_rate",  # the epoch's (scheduled) learning rate; not "lr", the setting a report may split by
    *(f"{split}_{metric}" for split in SPLITS for metric in ("loss", "acc")),
    "epoch_seconds",
    "eval_seconds",
)
FINAL_METRICS = tuple(column for column in EPOCH_COLUMNS if column.endswith(("_loss", "_acc")))

NAN = math.nan


@dataclass
class RunSummary:
    """Everything ``summary.json`` records of one run: outcome, final and best metrics, timing, sizes, origin.

    The final metrics are those of the kept epoch: the last one, or with early stopping the best one.

    A failed run has ``error`` and no metrics (NaN); ``config`` is the resolved configuration.
    """

    status: RunStatus
    fingerprint: str
    error: str | None = None
    epochs_completed: int | None = 0  # None only in a summary.json that does not record it
    # early stopping: why training stopped before its last epoch (None: it did not), and the epoch whose
    # weights were kept (and whose metrics are the final ones)
    stop_reason: str | None = None
    kept_epoch: int | None = None
    train_loss: float = NAN
    train_acc: float = NAN
    val_loss: float = NAN
    val_acc: float = NAN
    test_loss: float = NAN
    test_acc: float = NAN
    best_epoch: int | None = None
    best_val_acc: float = NAN
    test_acc_at_best_val: float = NAN
    train_seconds: float = NAN
    eval_seconds: float = NAN
    samples_per_second: float = NAN
    n_params: int | None = None
    n_train: int | None = None
    n_val: int | None = None
    n_test: int | None = None
    layer_sizes: list[int] = field(default_factory=list)
    started: str | None = None
    finished: str | None = None
    host: str | None = None
    data_identity: dict[str, str] = field(default_factory=dict)  # the data's content digest and description
    data_cache: str | None = None  # the generation of the array cache entry the run trained on
    # in a pool (nnexp.data.pack_data), the generations of the other entries its images were read from
    pool_caches: list[str] = field(default_factory=list)
    # what the data gave the network little or nothing to learn from (nnexp.data.degenerate), one sentence each
    warnings: list[str] = field(default_factory=list)
    # what the run wrote, to verify it by (nnexp.results.files.damage): each file's SHA-256, metrics.csv's rows;
    # None in a summary written before summaries recorded their files
    files: dict[str, dict[str, Any]] | None = field(default_factory=dict)
    # what its training metrics mean (nnexp.training.spec.METRICS_DEFINITION; absent before 2: it was 1)
    metrics_definition: int | None = None
    versions: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready values (the status as its name)."""
        record = asdict(self)
        record["status"] = self.status.value
        return record

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> RunSummary:
        """The summary a ``summary.json`` holds (``record``, as :func:`~nnexp.results.files.read_summary` reads it):
        keys it does not know are ignored, missing ones take their defaults (``files`` and ``epochs_completed``:
        None, not recorded), values are kept as written (their forms are checked where they are used, e.g. ``files``
        by :func:`~nnexp.results.files.damage`). ``ValueError`` when its status is not a :class:`RunStatus`."""
        try:
            status = RunStatus(record.get("status"))
        except ValueError:
            raise ValueError(f"status {record.get('status')!r} is not one of {', '.join(RunStatus)}") from None
        known = {f.name for f in fields(cls)} - {"status"}
        values = {name: value for name, value in record.items() if name in known}
        values.setdefault("fingerprint", "")
        values.setdefault("epochs_completed", None)  # not recorded: damage says so of an older summary
        if "files" not in record:
            values["files"] = None
        elif record["files"] is None:  # kept as the text "null": a form nnexp does not write (damage says so),
            values["files"] = "null"  # not an older summary's "not recorded"
        return cls(status=status, **values)


def metrics_definition_of(recorded: Any) -> int:
    """What the training metrics of a run mean, from the ``metrics_definition`` its ``summary.json`` records
    (``recorded``): that, or 1 for a summary written before nnexp recorded it."""
    return recorded or 1


# The scalar fields: one column each in runs.csv and the report's tables.
# (metrics_definition is a config column of the report's: runs of two definitions are never pooled)
NOT_COLUMNS = ("layer_sizes", "data_identity", "pool_caches", "files", "metrics_definition", "versions", "config")
OUTCOME_COLUMNS = tuple(f.name for f in fields(RunSummary) if f.name not in NOT_COLUMNS)
