"""The training loop: epochs of shuffled (mini-)batch gradient descent, evaluated after each epoch."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from nnexp.data import Splits
from nnexp.model import MLP
from nnexp.results import RunStatus
from nnexp.training.diagnostics import PROBE_SIZE, diagnose

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """How training ended: ``completed``, or ``diverged`` when the training loss stopped being finite."""

    status: RunStatus
    epochs_completed: int
    train_seconds: float
    eval_seconds: float
    samples_seen: int


class _Batches:
    """Reshuffled mini-batches of the training set, gathered into reused buffers."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, rng: np.random.Generator) -> None:
        """``x`` (n, features), ``y`` (n,); batches of ``batch_size`` rows (the last may be smaller)."""
        self.x, self.y, self.batch_size, self.rng = x, y, batch_size, rng
        self.x_batch = np.empty((batch_size, x.shape[1]), x.dtype)
        self.y_batch = np.empty(batch_size, y.dtype)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n = len(self.y)
        if self.batch_size == n:  # full batch: the order of samples does not change the gradient
            yield self.x, self.y
            return
        order = self.rng.permutation(n)
        for begin in range(0, n, self.batch_size):
            idx = order[begin : begin + self.batch_size]
            m = len(idx)
            # mode="clip" writes straight into the buffer (the default mode gathers into a temporary first);
            # the indices come from a permutation, so nothing is ever clipped
            np.take(self.x, idx, axis=0, out=self.x_batch[:m], mode="clip")
            np.take(self.y, idx, out=self.y_batch[:m], mode="clip")
            yield self.x_batch[:m], self.y_batch[:m]


def train(
    model: MLP,
    data: Splits,
    *,
    epochs: int,
    batch_size: int | None,
    lr: float,
    rng: np.random.Generator,
    on_epoch: Callable[[dict], None],
    diagnostics: bool = False,
) -> TrainResult:
    """Train ``model`` in place and report each epoch's metrics to ``on_epoch``.

    ``batch_size=None`` means full-batch gradient descent. The training set is
    reshuffled every epoch with ``rng``. ``epoch_seconds`` counts the parameter
    updates only; evaluation of the three splits (and the ``diagnostics`` of
    :mod:`nnexp.training.diagnostics`, if asked for) is timed separately. A run whose
    training loss stops being finite ends with status ``diverged``.
    """
    x = np.ascontiguousarray(data.x_train, dtype=model.dtype)
    splits = {
        "train": (x, data.y_train),
        "val": (data.x_val.astype(model.dtype, copy=False), data.y_val),
        "test": (data.x_test.astype(model.dtype, copy=False), data.y_test),
    }
    n = len(data.y_train)
    batches = _Batches(x, data.y_train, n if batch_size is None else min(batch_size, n), rng)
    ws = model.workspace(batches.batch_size)
    probe = (x[:PROBE_SIZE], data.y_train[:PROBE_SIZE])
    train_seconds = eval_seconds = 0.0
    status, epochs_done = RunStatus.completed, 0
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected from the loss
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            for x_batch, y_batch in batches:
                model.sgd_step(x_batch, y_batch, lr, ws)
            row = {"epoch": epoch, "epoch_seconds": time.perf_counter() - start}
            start = time.perf_counter()
            for split, (xs, ys) in splits.items():
                row[f"{split}_loss"], row[f"{split}_acc"] = model.evaluate(xs, ys)
            if diagnostics:
                row.update(diagnose(model, *probe))
            row["eval_seconds"] = time.perf_counter() - start
            train_seconds += row["epoch_seconds"]
            eval_seconds += row["eval_seconds"]
            epochs_done = epoch
            on_epoch(row)
            _log_epoch(row, epochs)
            if not math.isfinite(row["train_loss"]):
                status = RunStatus.diverged
                log.warning("training loss is %s at epoch %d: run diverged, stopping", row["train_loss"], epoch)
                break
    return TrainResult(status, epochs_done, train_seconds, eval_seconds, samples_seen=epochs_done * n)


def _log_epoch(row: dict, epochs: int) -> None:
    log.info(
        "epoch %d/%d  train loss %.4f acc %.2f%%  val loss %.4f acc %.2f%%  test acc %.2f%%  (%.2f s)",
        row["epoch"],
        epochs,
        row["train_loss"],
        100 * row["train_acc"],
        row["val_loss"],
        100 * row["val_acc"],
        100 * row["test_acc"],
        row["epoch_seconds"],
    )
