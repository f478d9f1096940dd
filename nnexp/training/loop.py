"""The training loop: epochs of shuffled (mini-)batches, evaluated after each epoch, until done, diverged or stopped."""

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
from nnexp.training.method import Method, Stepper
from nnexp.training.stopping import EarlyStopping

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """How training ended: ``completed`` (every epoch, or stopped early), or ``diverged`` when the training
    loss stopped being finite; and which epoch's weights were kept."""

    status: RunStatus
    epochs_completed: int
    train_seconds: float
    eval_seconds: float
    samples_seen: int
    stop_reason: str | None = None  # why early stopping ended training; None: it ran every epoch (or diverged)
    kept_epoch: int = 0  # the epoch whose weights the model holds at the end


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


class Trainer:
    """Trains ``model`` on the training split of ``data`` with ``method``, one epoch at a time.

    ``batch_size`` None means full-batch gradient descent. The training set is reshuffled every
    epoch with ``shuffle_rng``; ``dropout_rng`` draws the dropout masks.
    """

    def __init__(
        self,
        model: MLP,
        data: Splits,
        method: Method,
        batch_size: int | None,
        shuffle_rng: np.random.Generator,
        dropout_rng: np.random.Generator,
    ) -> None:
        self.model, self.method = model, method
        self.x = np.ascontiguousarray(data.x_train, dtype=model.dtype)
        n = len(data.y_train)
        self.batches = _Batches(self.x, data.y_train, n if batch_size is None else min(batch_size, n), shuffle_rng)
        self.stepper = Stepper(model, method, self.batches.batch_size, dropout_rng)

    def run_epoch(self, lr: float) -> float:
        """One pass over the training set with learning rate ``lr``; its seconds (parameter updates only)."""
        start = time.perf_counter()
        for x_batch, y_batch in self.batches:
            self.stepper.step(x_batch, y_batch, lr)
        return time.perf_counter() - start


def train(
    model: MLP,
    data: Splits,
    *,
    epochs: int,
    batch_size: int | None,
    method: Method,
    rng: np.random.Generator,
    on_epoch: Callable[[dict], None],
    diagnostics: bool = False,
    dropout_rng: np.random.Generator | None = None,
) -> TrainResult:
    """Train ``model`` in place and report each epoch's metrics to ``on_epoch``.

    ``rng`` reshuffles the training set every epoch; ``dropout_rng`` (default: ``rng``) draws
    the dropout masks. ``epoch_seconds`` counts the parameter updates only; evaluation of the
    three splits (and the ``diagnostics`` of :mod:`nnexp.training.diagnostics`, if asked for)
    is timed separately. Reported losses include the L2 penalty. A run whose training loss stops
    being finite ends with status ``diverged``; with early stopping, training ends when the
    watched metric stops improving, and the weights of its best epoch are kept.
    """
    trainer = Trainer(model, data, method, batch_size, rng, rng if dropout_rng is None else dropout_rng)
    splits = {
        "train": (trainer.x, data.y_train),
        "val": (data.x_val.astype(model.dtype, copy=False), data.y_val),
        "test": (data.x_test.astype(model.dtype, copy=False), data.y_test),
    }
    probe = (trainer.x[:PROBE_SIZE], data.y_train[:PROBE_SIZE])
    stopping = EarlyStopping(method.patience, method.stop_metric, method.min_delta)
    train_seconds = eval_seconds = 0.0
    status, epochs_done, stop_reason = RunStatus.completed, 0, None
    history: dict[int, dict] = {}
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected from the loss
        for epoch in range(1, epochs + 1):
            lr = method.learning_rate(epoch, epochs)
            row = {"epoch": epoch, "learning_rate": lr, "epoch_seconds": trainer.run_epoch(lr)}
            start = time.perf_counter()
            penalty = model.penalty(method.weight_decay)
            for split, (xs, ys) in splits.items():
                loss, row[f"{split}_acc"] = model.evaluate(xs, ys)
                row[f"{split}_loss"] = loss + penalty
            if diagnostics:
                row.update(diagnose(model, *probe))
            row["eval_seconds"] = time.perf_counter() - start
            train_seconds += row["epoch_seconds"]
            eval_seconds += row["eval_seconds"]
            epochs_done = epoch
            history[epoch] = row
            on_epoch(row)
            _log_epoch(row, epochs)
            if not math.isfinite(row["train_loss"]):
                status = RunStatus.diverged
                log.warning("training loss is %s at epoch %d: run diverged, stopping", row["train_loss"], epoch)
                break
            stop_reason = stopping.update(epoch, row, model.params)
            if stop_reason:
                log.info("early stopping at epoch %d: %s", epoch, stop_reason)
                break
    kept = stopping.restore(model.params) if status is RunStatus.completed else None
    if kept is not None and kept != epochs_done:
        log.info(
            "kept the weights of epoch %d (best %s %.4f)", kept, method.stop_metric, history[kept][method.stop_metric]
        )
    return TrainResult(
        status,
        epochs_done,
        train_seconds,
        eval_seconds,
        samples_seen=epochs_done * len(data.y_train),
        stop_reason=stop_reason,
        kept_epoch=kept or epochs_done,
    )


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
