"""The training loop: epochs of shuffled (mini-)batches, evaluated after each epoch, until done, diverged or stopped.

The training split's metrics come from the training pass itself, never from a second pass over it. In full-batch
training without dropout they are exactly those of the weights at the end of the epoch: the forward pass of the next
step is done at the end of the epoch, gives them, and the next step starts from it. Otherwise each sample counts with
the logits it had in its own step, before that step's update (with its dropout mask): the mean over the epoch, as
Keras and Lightning report it. Validation and test are evaluated on the weights at the end of the epoch.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from nnexp.console import EPOCH_LINE
from nnexp.data import Splits
from nnexp.model import MLP
from nnexp.results import RunStatus
from nnexp.training.checkpoint import Checkpoint, Checkpointer
from nnexp.training.diagnostics import PROBE_SIZE, diagnose
from nnexp.training.interrupt import Interrupted, requested
from nnexp.training.method import Method, Stepper
from nnexp.training.stopped_time import active_time
from nnexp.training.stopping import EarlyStopping

log = logging.getLogger(__name__)

PROGRESS_STEPS = 64  # steps between two looks at the clock for a checkpoint within an epoch


@dataclass
class TrainResult:
    """How training ended: ``completed`` (every epoch, or stopped early), or ``diverged`` when the training or
    validation loss stopped being finite; and which epoch's weights were kept."""

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
        self.order_state = rng.bit_generator.state  # the generator's state before the current epoch's order
        self.order: np.ndarray | None = None  # the current epoch's order of the samples (None: as stored)

    def epoch(self, skip: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The batches of one epoch in a new order, without the first ``skip`` (done before a checkpoint)."""
        n = len(self.y)
        self.order_state = self.rng.bit_generator.state
        if self.batch_size == n:  # full batch: the order of samples does not change the gradient
            if not skip:
                yield self.x, self.y
            return
        order = self.order = self.rng.permutation(n)
        for begin in range(skip * self.batch_size, n, self.batch_size):
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
    epoch with ``shuffle_rng``; ``dropout_rng`` draws the dropout masks. :meth:`train_metrics` gives the training
    split's metrics of the epoch from the training pass (see the module's docstring).
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
        self.model = model
        self.x = np.ascontiguousarray(data.x_train, dtype=model.dtype)
        n = len(data.y_train)
        self.batches = _Batches(self.x, data.y_train, n if batch_size is None else min(batch_size, n), shuffle_rng)
        self.stepper = Stepper(model, method, self.batches.batch_size, dropout_rng)
        # full batch without dropout: the next step's forward pass (views into the stepper's workspace), done at the
        # end of an epoch; otherwise the logits of the epoch's samples in the order they were trained, (n, n_out)
        self.shares_forward = self.batches.batch_size == n and not method.dropout
        self.next_forward: list[np.ndarray] | None = None
        self.pass_logits = None if self.shares_forward else np.empty((n, model.layer_sizes[-1]), model.dtype)

    def run_epoch(self, lr: float, skip: int = 0, progress: Callable[[int], None] | None = None) -> float:
        """One pass over the training set with learning rate ``lr`` (its first ``skip`` batches done already), and,
        in full-batch training without dropout, the next step's forward pass; its seconds (training only, time
        stopped left out). ``progress(batches done)`` is called every :data:`PROGRESS_STEPS` steps."""
        start = active_time()
        done, rows = skip, self.batches.batch_size
        for x_batch, y_batch in self.batches.epoch(skip):
            if self.shares_forward:
                self.stepper.step(x_batch, y_batch, lr, acts=self.next_forward)
            else:
                self.stepper.step(x_batch, y_batch, lr, logits_to=self.pass_logits[done * rows : done * rows + rows])
            done += 1
            if progress is not None and done % PROGRESS_STEPS == 0:
                progress(done)
        if self.shares_forward:
            self.next_forward = self.model.forward(self.x, self.stepper.ws)
        return active_time() - start

    def train_metrics(self) -> tuple[float, float]:
        """Mean loss (without the penalty) and accuracy on the training split, from the epoch just run (the module's
        docstring says on which weights)."""
        if self.shares_forward:
            logits, labels = self.next_forward[-1], self.batches.y
        else:
            order = self.batches.order
            logits, labels = self.pass_logits, self.batches.y if order is None else self.batches.y[order]
        output, n = self.model.output, len(labels)
        return output.loss_sum(logits, labels) / n, int(np.count_nonzero(output.predict(logits) == labels)) / n

    def checkpoint(
        self, fingerprint: str, epoch: int, batch: int, stopping: EarlyStopping, seconds: tuple
    ) -> Checkpoint:
        """Where training stands: ``epoch`` epochs done, and ``batch`` batches of the next one (copies)."""
        return Checkpoint(
            fingerprint=fingerprint,
            epoch=epoch,
            batch=batch,
            params=[param.copy() for param in self.model.params],
            pass_logits=None if not batch else self.pass_logits[: batch * self.batches.batch_size].copy(),
            optimizer=self.stepper.optimizer.state(),
            shuffle_state=self.batches.order_state if batch else self.batches.rng.bit_generator.state,
            dropout_state=self.stepper.rng.bit_generator.state,
            stopping=stopping.state(),
            train_seconds=seconds[0],
            eval_seconds=seconds[1],
        )

    def restore(self, checkpoint: Checkpoint, stopping: EarlyStopping) -> None:
        """Continue from ``checkpoint``: parameters, optimizer state, random generators, early stopping."""
        for param, saved in zip(self.model.params, checkpoint.params):
            param[...] = saved
        self.next_forward = None  # of other weights
        if checkpoint.pass_logits is not None:
            self.pass_logits[: len(checkpoint.pass_logits)] = checkpoint.pass_logits
        self.stepper.optimizer.load_state(checkpoint.optimizer)
        self.batches.rng.bit_generator.state = checkpoint.shuffle_state
        self.stepper.rng.bit_generator.state = checkpoint.dropout_state
        stopping.load_state(checkpoint.stopping)


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
    checkpoints: Checkpointer | None = None,
    resume: Checkpoint | None = None,
) -> TrainResult:
    """Train ``model`` in place and report each epoch's metrics to ``on_epoch``.

    ``rng`` reshuffles the training set every epoch; ``dropout_rng`` (default: spawned from ``rng``)
    draws the dropout masks. ``epoch_seconds`` counts training only (:meth:`Trainer.run_epoch`); the metrics
    (the training split's from the training pass, see the module's docstring; validation and test evaluated), and
    the ``diagnostics`` of :mod:`nnexp.training.diagnostics` if asked for, are timed separately. Reported losses
    include the L2 penalty of the weights at the end of the epoch. A run whose training or validation loss stops
    being finite ends with status ``diverged``; with early stopping, training ends when the
    watched metric stops improving, and the weights of its best epoch are kept.

    ``checkpoints`` saves where training stands at the end of every epoch and, within long epochs,
    every ``checkpoints.seconds`` or when a signal asks training to stop (:mod:`nnexp.training.interrupt`:
    then :class:`Interrupted` is raised); ``resume`` continues from such a checkpoint (the caller holds the
    rows of the epochs before it), to the same result as a run never interrupted.
    """
    # a generator of its own for the masks: a checkpoint restores the two streams separately
    trainer = Trainer(model, data, method, batch_size, rng, rng.spawn(1)[0] if dropout_rng is None else dropout_rng)
    splits = {  # evaluated after every epoch; the training split's metrics come from training (Trainer.train_metrics)
        "val": (data.x_val.astype(model.dtype, copy=False), data.y_val),
        "test": (data.x_test.astype(model.dtype, copy=False), data.y_test),
    }
    probe = (trainer.x[:PROBE_SIZE], data.y_train[:PROBE_SIZE])
    stopping = EarlyStopping(method.patience, method.stop_metric, method.min_delta)
    train_seconds = eval_seconds = 0.0
    status, epochs_done, stop_reason, skip = RunStatus.completed, 0, None, 0
    if resume is not None:
        trainer.restore(resume, stopping)
        epochs_done, skip, train_seconds, eval_seconds = (
            resume.epoch,
            resume.batch,
            resume.train_seconds,
            resume.eval_seconds,
        )
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected from the loss
        for epoch in range(epochs_done + 1, epochs + 1):
            if checkpoints is not None and (signum := requested()):  # before the first epoch: nothing to save
                raise Interrupted(signum, f"before epoch {epoch}")
            lr = method.learning_rate(epoch, epochs)

            def mid_epoch(batch: int, epoch: int = epoch, seconds: tuple = (train_seconds, eval_seconds)) -> None:
                """Within the epoch: a checkpoint when one is due (the time of the epochs done before), or
                when a signal asks training to stop."""
                signum = requested()
                if checkpoints.due() or signum:
                    checkpoints.save(trainer.checkpoint(checkpoints.fingerprint, epoch - 1, batch, stopping, seconds))
                if signum:
                    raise Interrupted(signum, f"in epoch {epoch} (after batch {batch})")

            progress = mid_epoch if checkpoints is not None else None
            row = {"epoch": epoch, "learning_rate": lr, "epoch_seconds": trainer.run_epoch(lr, skip, progress)}
            skip = 0
            start = active_time()
            penalty = model.penalty(method.weight_decay)
            loss, row["train_acc"] = trainer.train_metrics()
            row["train_loss"] = loss + penalty
            for split, (xs, ys) in splits.items():
                loss, row[f"{split}_acc"] = model.evaluate(xs, ys)
                row[f"{split}_loss"] = loss + penalty
            if diagnostics:
                row.update(diagnose(model, *probe))
            row["eval_seconds"] = active_time() - start
            train_seconds += row["epoch_seconds"]
            eval_seconds += row["eval_seconds"]
            epochs_done = epoch
            on_epoch(row)
            _log_epoch(row, epochs)
            if diverged := next((key for key in ("train_loss", "val_loss") if not math.isfinite(row[key])), None):
                status = RunStatus.diverged
                log.warning("%s is %s at epoch %d: run diverged, stopping", diverged, row[diverged], epoch)
                break
            reason = stopping.update(epoch, row, model.params)  # records the best epoch, the last one too
            if reason and epoch < epochs:  # on the last epoch training ends anyway: no early stop
                stop_reason = reason
                log.info("early stopping at epoch %d: %s", epoch, stop_reason)
                break
            if checkpoints is not None and epoch < epochs:
                seconds = (train_seconds, eval_seconds)
                checkpoints.save(trainer.checkpoint(checkpoints.fingerprint, epoch, 0, stopping, seconds))
    kept = stopping.restore(model.params) if status is RunStatus.completed else None
    if kept is not None and kept != epochs_done:
        log.info("kept the weights of epoch %d (best %s)", kept, method.stop_metric)
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
        extra=EPOCH_LINE,
    )
