"""The training loop: epochs of shuffled (mini-)batches, evaluated after each epoch, until done, diverged or stopped.

It trains a pack of runs (:mod:`nnexp.model.pack`): one run, or several that read the same images (or, without
hidden layers, rows of one pool: :mod:`nnexp.data.pack_data`), have the same layer sizes and train full batch, each
with its own labels, method, random streams, epochs, early stopping, status and files. A run alone is a pack of one:
the same code.

The training split's metrics come from the training pass itself, never from a second pass over it. In full-batch
training without dropout they are exactly those of the weights at the end of the epoch: the forward pass of the next
step is done at the end of the epoch, gives them, and the next step starts from it. Otherwise each sample counts with
the logits it had in its own step, before that step's update (with its dropout mask): the mean over the epoch, as
Keras and Lightning report it. Validation and test are evaluated on the weights at the end of the epoch; in a pool,
a member's validation rows are rows of that same forward pass, its metrics the ones of those weights too.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from nnexp.console import EPOCH_LINE
from nnexp.data import PackData, Splits
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
    error: Exception | None = None  # what failed in this run's own part (its files), with status failed


@dataclass
class Member:
    """One run of a pack: its network (trained in place), how it is trained and for how many ``epochs``, its random
    streams (the training set's order, the dropout masks), and where its epochs go: ``on_epoch`` receives each
    epoch's metrics, ``checkpoints`` saves where it stands, ``resume`` continues from such a checkpoint, ``log``
    takes its lines. ``diagnostics`` adds the columns of :mod:`nnexp.training.diagnostics`."""

    model: MLP
    method: Method
    shuffle_rng: np.random.Generator
    dropout_rng: np.random.Generator
    epochs: int = 1
    on_epoch: Callable[[dict], None] = field(default=lambda row: None)
    diagnostics: bool = False
    checkpoints: Checkpointer | None = None
    resume: Checkpoint | None = None
    log: logging.Logger | logging.LoggerAdapter = log


class _Batches:
    """Reshuffled mini-batches of the training set, gathered into reused buffers."""

    def __init__(
        self, x: np.ndarray, y: np.ndarray, batch_size: int, rng: np.random.Generator, fixed: np.ndarray | None
    ) -> None:
        """``x`` (n, features), ``y`` (n,) their labels (a pool trains full batch, each member with its own labels of
        its own rows: these, the first member's, are not used); batches of ``batch_size`` rows (the last may be
        smaller), in the order ``fixed`` (n,) every epoch, or, if None, in a new order drawn from ``rng`` every
        epoch."""
        self.x, self.y, self.batch_size, self.rng, self.fixed = x, y, batch_size, rng, fixed
        self.x_batch = np.empty((batch_size, x.shape[1]), x.dtype)
        self.y_batch = np.empty(batch_size, y.dtype)
        self.order_state = rng.bit_generator.state  # the generator's state before the current epoch's order
        self.order: np.ndarray | None = None  # the current epoch's order of the samples (None: as stored)

    def epoch(self, skip: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The batches of one epoch in its order, without the first ``skip`` (done before a checkpoint)."""
        n = len(self.x)
        self.order_state = self.rng.bit_generator.state
        if self.batch_size == n:  # full batch: the order of samples does not change the gradient
            if not skip:
                yield self.x, self.y
            return
        order = self.order = self.rng.permutation(n) if self.fixed is None else self.fixed
        for begin in range(skip * self.batch_size, n, self.batch_size):
            idx = order[begin : begin + self.batch_size]
            m = len(idx)
            # mode="clip" writes straight into the buffer (the default mode gathers into a temporary first);
            # the indices come from a permutation, so nothing is ever clipped
            np.take(self.x, idx, axis=0, out=self.x_batch[:m], mode="clip")
            np.take(self.y, idx, out=self.y_batch[:m], mode="clip")
            yield self.x_batch[:m], self.y_batch[:m]


class Trainer:
    """Trains the pack of ``members`` on ``data`` (:class:`~nnexp.data.PackData`, or a split all of them read), one
    epoch at a time.

    ``batch_size`` None means full-batch gradient descent; several members train full batch only (they share every
    batch). The training set is reshuffled every epoch with the first member's shuffle generator (a pack of several
    never draws it), or taken in the data's fixed ``train_order`` (``data.order``); each member draws its dropout
    masks from its own. :meth:`train_metrics` gives a member's training-split metrics of the epoch from the training
    pass (see the module's docstring).
    """

    def __init__(self, members: Sequence[Member], data: PackData | Splits, batch_size: int | None) -> None:
        models = [member.model for member in members]
        self.members = list(members)
        if isinstance(data, Splits):
            data = PackData.sharing([data] * len(members))
        self.data = data
        dtype = models[0].dtype
        self.x = np.ascontiguousarray(data.x, dtype=dtype)
        self.evaluated = {"test": data.x_test.astype(dtype, copy=False)}  # inputs evaluated after every epoch
        if data.x_val is not None:
            self.evaluated["val"] = data.x_val.astype(dtype, copy=False)
        n = len(self.x)
        rows = n if batch_size is None or data.pooled else min(batch_size, n)
        if len(members) > 1 and rows < n:
            raise ValueError(f"a pack of {len(members)} runs trains full batch only, not in batches of {rows} of {n}")
        if data.pooled and batch_size is not None and batch_size < max(len(own.y_train) for own in data.members):
            raise ValueError(f"a pool trains full batch only, not in batches of {batch_size}")
        self.batches = _Batches(self.x, data.members[0].y_train, rows, members[0].shuffle_rng, data.train_order)
        self.probe_images: dict[int, np.ndarray] = {}  # each split's probe images (Trainer.probes), taken once
        methods = [member.method for member in members]
        rngs, subsets = [member.dropout_rng for member in members], [own.train_rows for own in data.members]
        self.stepper = Stepper(models, methods, rows, rngs, subsets if data.pooled else None)
        # full batch: the next step's forward pass of each active member (views into the stepper's workspace), done
        # at the end of an epoch, gives the training metrics of the members without dropout, and is the next step's
        # when no member has dropout; otherwise a member's logits of the epoch's samples in the order they were
        # trained, (n, n_out), give its metrics
        self.from_next_forward = [rows == n and not method.dropout for method in methods]
        self.shares_forward = all(self.from_next_forward)
        if data.pooled and not self.shares_forward:
            raise ValueError("members of a pool take their metrics from the next forward pass: no dropout")
        self.next_forward: list[list[np.ndarray]] | None = None
        shape = (n, models[0].layer_sizes[-1])
        self.pass_logits = [None if own else np.empty(shape, models[0].dtype) for own in self.from_next_forward]

    @property
    def active(self) -> list[int]:
        """The members still training."""
        return self.stepper.active

    def run_epoch(self, lrs: Sequence[float], skip: int = 0, progress: Callable[[int], None] | None = None) -> float:
        """One pass over the training set, active member ``active[i]`` at learning rate ``lrs[i]`` (its first ``skip``
        batches done already), and, in full-batch training without dropout, the next step's forward pass; its seconds
        (training only, time stopped left out). ``progress(batches done)`` is called every :data:`PROGRESS_STEPS`
        steps."""
        start = active_time()
        done, rows = skip, self.batches.batch_size
        full = rows == len(self.x)
        for x_batch, y_batch in self.batches.epoch(skip):
            ys = [self.data.members[j].y_train for j in self.active] if full else [y_batch]
            if self.shares_forward:
                self.stepper.step(x_batch, ys, lrs, acts=self.next_forward)
            else:
                seen = slice(done * rows, done * rows + rows)
                logits = [None if self.pass_logits[j] is None else self.pass_logits[j][seen] for j in self.active]
                self.stepper.step(x_batch, ys, lrs, logits_to=logits)
            done += 1
            if progress is not None and done % PROGRESS_STEPS == 0:
                progress(done)
        if any(self.from_next_forward[j] for j in self.active):
            self.next_forward = self.stepper.forward(self.x)
        return active_time() - start

    def train_metrics(self, j: int) -> tuple[float, float]:
        """Member ``j``'s mean loss (without the penalty) and accuracy on the training split, from the epoch just run
        (the module's docstring says on which weights)."""
        own = self.data.members[j]
        if not self.from_next_forward[j]:
            order = self.batches.order
            return self._metrics(j, self.pass_logits[j], own.y_train if order is None else own.y_train[order])
        if self.data.pooled:  # its own rows, gathered once for these metrics and its next step
            return self._metrics(j, self.stepper.own_logits(j), own.y_train)
        return self._metrics(j, self.next_forward[self.active.index(j)][-1], own.y_train)

    def split_metrics(self, split: str) -> list[tuple[float, float]]:
        """Each active member's mean loss (without the penalty) and accuracy on its ``split`` (val or test): its
        rows of the next forward pass (the validation rows of a pool), or evaluated."""
        if split == "val" and self.data.pooled:
            own = [self.data.members[j] for j in self.active]
            return [self._metrics(j, self.stepper.logits_of(j, o.val_rows), o.y_val) for j, o in zip(self.active, own)]
        ys = [getattr(self.data.members[j], f"y_{split}") for j in self.active]
        return self.stepper.pack.evaluate(self.evaluated[split], ys, self.active)

    def probes(self, members: Sequence[int]) -> list[tuple[np.ndarray, list[int], list[np.ndarray]]]:
        """The probe images of ``members`` for their diagnostics, each set once: the first training images of a
        split (at most :data:`PROBE_SIZE`, in its order), the members whose split it is, and their labels of them."""
        groups: dict[int, tuple[np.ndarray, list[int], list[np.ndarray]]] = {}
        for j in members:
            own = self.data.members[j]
            rows, labels = own.first_training_rows(PROBE_SIZE)
            key = id(own.train_rows)  # members on one split share their row arrays; None: the pack's one split
            if key not in self.probe_images:
                self.probe_images[key] = self.x[rows]
            if key not in groups:
                groups[key] = (self.probe_images[key], [], [])
            groups[key][1].append(j)
            groups[key][2].append(labels)
        return list(groups.values())

    def _metrics(self, j: int, logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
        output, n = self.members[j].model.output, len(labels)
        return output.loss_sum(logits, labels) / n, int(np.count_nonzero(output.predict(logits) == labels)) / n

    def retire(self, j: int) -> None:
        """Member ``j`` trains no more (:meth:`Stepper.retire`)."""
        if self.next_forward is not None:
            del self.next_forward[self.active.index(j)]
        self.stepper.retire(j)

    def checkpoint(
        self, j: int, fingerprint: str, epoch: int, batch: int, stopping: EarlyStopping, seconds: tuple
    ) -> Checkpoint:
        """Where member ``j``'s training stands: ``epoch`` epochs done, and ``batch`` batches of the next one
        (copies)."""
        member, steps = self.members[j], self.stepper.members[j]
        return Checkpoint(
            fingerprint=fingerprint,
            epoch=epoch,
            batch=batch,
            params=[param.copy() for param in member.model.params],
            pass_logits=None if not batch else self.pass_logits[j][: batch * self.batches.batch_size].copy(),
            optimizer=steps.optimizer.state(),
            shuffle_state=self.batches.order_state if batch else member.shuffle_rng.bit_generator.state,
            dropout_state=member.dropout_rng.bit_generator.state,
            stopping=stopping.state(),
            train_seconds=seconds[0],
            eval_seconds=seconds[1],
        )

    def restore(self, j: int, checkpoint: Checkpoint, stopping: EarlyStopping) -> None:
        """Continue member ``j`` from ``checkpoint``: parameters, optimizer state, random generators, early
        stopping."""
        member = self.members[j]
        for param, saved in zip(member.model.params, checkpoint.params):
            param[...] = saved
        self.next_forward = None  # of other weights
        if checkpoint.pass_logits is not None:
            self.pass_logits[j][: len(checkpoint.pass_logits)] = checkpoint.pass_logits
        self.stepper.members[j].optimizer.load_state(checkpoint.optimizer)
        member.shuffle_rng.bit_generator.state = checkpoint.shuffle_state
        member.dropout_rng.bit_generator.state = checkpoint.dropout_state
        stopping.load_state(checkpoint.stopping)


class _Progress:
    """Where one member's training stands in :func:`train_pack`, and how it ended."""

    def __init__(self, member: Member) -> None:
        method = member.method
        self.stopping = EarlyStopping(method.patience, method.stop_metric, method.min_delta)
        self.epochs_done, self.skip, self.train_seconds, self.eval_seconds = 0, 0, 0.0, 0.0
        self.status, self.stop_reason, self.error = RunStatus.completed, None, None
        self.unsaved = False  # an epoch ended since its last checkpoint (Checkpointer.due_at_epoch_end)
        self.kept_epoch: int | None = None  # the epoch whose weights the network holds at the end, if not the last
        if member.resume is not None:
            resume = member.resume
            self.epochs_done, self.skip = resume.epoch, resume.batch
            self.train_seconds, self.eval_seconds = resume.train_seconds, resume.eval_seconds

    @property
    def seconds(self) -> tuple[float, float]:
        return self.train_seconds, self.eval_seconds


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
    """Train ``model`` in place and report each epoch's metrics to ``on_epoch``: a pack of one
    (:func:`train_pack`, which says what is reported and when training ends); an error of the run is raised.

    ``rng`` reshuffles the training set every epoch; ``dropout_rng`` (default: spawned from ``rng``) draws the
    dropout masks.
    """
    # a generator of its own for the masks: a checkpoint restores the two streams separately
    member = Member(
        model,
        method,
        rng,
        rng.spawn(1)[0] if dropout_rng is None else dropout_rng,
        epochs,
        on_epoch,
        diagnostics,
        checkpoints,
        resume,
    )
    (result,) = train_pack([member], data, batch_size)
    if result.error is not None:
        raise result.error
    return result


def train_pack(members: Sequence[Member], data: PackData | Splits, batch_size: int | None) -> list[TrainResult]:
    """Train the ``members`` together (:class:`Trainer`) on ``data`` (theirs, or a split all of them read), each
    network in place; how each ended.

    Each member's epochs go to its ``on_epoch``: ``epoch_seconds`` counts training only (:meth:`Trainer.run_epoch`,
    the pack's time shared equally among the members that trained in that epoch); the metrics (the training split's
    from the training pass, see the module's docstring; validation and test evaluated), and the ``diagnostics`` of
    :mod:`nnexp.training.diagnostics` if asked for, are timed separately (``eval_seconds``, shared likewise).
    Reported losses include the L2 penalty of the weights at the end of the epoch. A member whose training or
    validation loss stops being finite ends with status ``diverged``; with early stopping, it ends when its watched
    metric stops improving, and the weights of its best epoch are kept. Either way the others go on, and so they do
    when a member's own part fails (its ``on_epoch`` or checkpoint raises): that member ends with status ``failed``
    and the exception in its result's ``error``.

    A member's ``checkpoints`` saves where it stands at the end of an epoch when due
    (:meth:`~nnexp.training.checkpoint.Checkpointer.due_at_epoch_end`), within long epochs every
    ``checkpoints.seconds``, and when a signal asks training to stop (:mod:`nnexp.training.interrupt`: then
    :class:`Interrupted` is raised, for the whole pack, each member's last epoch saved); ``resume`` continues from
    such a checkpoint (the caller holds the rows of the epochs before it), to the same result as a run never
    interrupted.
    """
    trainer = Trainer(members, data, batch_size)
    runs = [_Progress(member) for member in members]
    for j, (member, run) in enumerate(zip(members, runs)):
        if member.resume is not None:
            trainer.restore(j, member.resume, run.stopping)
    for j, (member, run) in enumerate(zip(members, runs)):
        if run.epochs_done >= member.epochs:  # none is saved after the last epoch; a copied one: nothing left to do
            trainer.retire(j)
    checkpointing = any(member.checkpoints is not None for member in members)
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected from the loss
        while active := list(trainer.active):
            epochs = [runs[j].epochs_done + 1 for j in active]
            if checkpointing and (signum := requested()):
                for j in active:  # the epochs ended since each one's last checkpoint
                    if runs[j].unsaved:
                        try:
                            _save_epoch(members[j], runs[j], trainer, j)
                        except Exception as exc:  # its last checkpoint stands; the pack stops all the same
                            members[j].log.warning("checkpoint of epoch %d not saved: %s", runs[j].epochs_done, exc)
                raise Interrupted(signum, f"before epoch {epochs[0]}")
            lrs = [members[j].method.learning_rate(epoch, members[j].epochs) for j, epoch in zip(active, epochs)]

            def mid_epoch(batch: int, active: list[int] = active, epochs: list[int] = epochs) -> None:
                """Within the epoch: checkpoints when one is due (the time of the epochs done before), or when a
                signal asks training to stop. (Only runs trained in batches, which train alone, have any.)"""
                signum = requested()
                for j, epoch in zip(active, epochs):
                    checkpoints, run = members[j].checkpoints, runs[j]
                    if checkpoints is not None and (checkpoints.due() or signum):
                        fingerprint = checkpoints.fingerprint
                        checkpoints.save(
                            trainer.checkpoint(j, fingerprint, epoch - 1, batch, run.stopping, run.seconds)
                        )
                if signum:
                    raise Interrupted(signum, f"in epoch {epochs[0]} (after batch {batch})")

            skip = runs[active[0]].skip  # within an epoch only in batches, where a pack has one member
            seconds = trainer.run_epoch(lrs, skip, mid_epoch if checkpointing else None) / len(active)
            start = active_time()
            # the training split's metrics come from training (Trainer.train_metrics)
            evaluated = {split: trainer.split_metrics(split) for split in ("val", "test")}
            rows = []
            for i, (j, epoch, lr) in enumerate(zip(active, epochs, lrs)):
                model = members[j].model
                penalty = model.penalty(members[j].method.weight_decay)
                row = {"epoch": epoch, "learning_rate": lr, "epoch_seconds": seconds}
                loss, row["train_acc"] = trainer.train_metrics(j)
                row["train_loss"] = loss + penalty
                for split, results in evaluated.items():
                    loss, row[f"{split}_acc"] = results[i]
                    row[f"{split}_loss"] = loss + penalty
                rows.append(row)
            for images, diagnosed, labels in trainer.probes([j for j in active if members[j].diagnostics]):
                models = [members[j].model for j in diagnosed]
                for j, diagnostics in zip(diagnosed, diagnose(models, images, labels)):
                    rows[active.index(j)].update(diagnostics)
            eval_seconds = (active_time() - start) / len(active)
            for j, row in zip(active, rows):
                row["eval_seconds"] = eval_seconds
                if _end_epoch(members[j], runs[j], trainer, j, row):
                    trainer.retire(j)
                    _keep_best(members[j], runs[j])
    return [
        TrainResult(
            run.status,
            run.epochs_done,
            run.train_seconds,
            run.eval_seconds,
            samples_seen=run.epochs_done * len(trainer.data.members[j].y_train),
            stop_reason=run.stop_reason,
            kept_epoch=run.kept_epoch or run.epochs_done,
            error=run.error,
        )
        for j, run in enumerate(runs)
    ]


def _end_epoch(member: Member, run: _Progress, trainer: Trainer, j: int, row: dict) -> bool:
    """Record member ``j``'s epoch ``row``: its ``on_epoch``, its log, divergence, early stopping, its checkpoint;
    whether its training has ended."""
    epoch, log = row["epoch"], member.log
    run.train_seconds += row["epoch_seconds"]
    run.eval_seconds += row["eval_seconds"]
    run.epochs_done = epoch
    run.skip = 0
    try:
        member.on_epoch(row)
        _log_epoch(log, row, member.epochs)
        if diverged := next((key for key in ("train_loss", "val_loss") if not math.isfinite(row[key])), None):
            run.status = RunStatus.diverged
            log.warning("%s is %s at epoch %d: run diverged, stopping", diverged, row[diverged], epoch)
            return True
        reason = run.stopping.update(epoch, row, member.model.params)  # records the best epoch, the last one too
        if epoch >= member.epochs:
            return True
        if reason:  # on the last epoch training ends anyway: no early stop
            run.stop_reason = reason
            log.info("early stopping at epoch %d: %s", epoch, reason)
            return True
        if member.checkpoints is not None:
            run.unsaved = True
            if member.checkpoints.due_at_epoch_end():
                _save_epoch(member, run, trainer, j)
    except Exception as exc:  # this run's own part failed: it ends, the pack goes on
        run.status, run.error = RunStatus.failed, exc
        return True
    return False


def _save_epoch(member: Member, run: _Progress, trainer: Trainer, j: int) -> None:
    """Save member ``j``'s checkpoint of the end of its last epoch."""
    checkpoints = member.checkpoints
    checkpoints.save(trainer.checkpoint(j, checkpoints.fingerprint, run.epochs_done, 0, run.stopping, run.seconds))
    run.unsaved = False


def _keep_best(member: Member, run: _Progress) -> None:
    """At the end of a completed run with early stopping, its best epoch's weights (said when not the last)."""
    run.kept_epoch = run.stopping.restore(member.model.params) if run.status is RunStatus.completed else None
    if run.kept_epoch is not None and run.kept_epoch != run.epochs_done:
        member.log.info("kept the weights of epoch %d (best %s)", run.kept_epoch, member.method.stop_metric)


def _log_epoch(log: logging.Logger | logging.LoggerAdapter, row: dict, epochs: int) -> None:
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
