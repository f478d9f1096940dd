"""Checkpoints of a run in progress (``checkpoint.npz``), so that a killed or preempted run continues
where it stopped and ends exactly as an uninterrupted one would.

A checkpoint holds the parameters, the training pass's logits of the epoch so far (for the training metrics),
the optimizer's state, both random generators (the shuffle's as it was when the current epoch drew its order,
the dropout's as it is now), the position (epochs done, batches done in the next one), early stopping's best so
far and the time counters. It is written
atomically (a temporary file, then a rename) and belongs to one configuration (its fingerprint).
"""

from __future__ import annotations

import json
import logging
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnexp.places import temporary_path

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.npz"


@dataclass
class Checkpoint:
    """Where training stands: ``epoch`` epochs done and ``batch`` batches of the next one."""

    fingerprint: str
    epoch: int
    batch: int
    params: list[np.ndarray]
    pass_logits: np.ndarray | None  # the logits of the samples of the ``batch`` batches done, for the training metrics
    optimizer: dict[str, Any]  # Optimizer.state()
    shuffle_state: dict[str, Any]  # bit generator state before the current epoch drew its order
    dropout_state: dict[str, Any]
    stopping: dict[str, Any]  # EarlyStopping.state()
    train_seconds: float
    eval_seconds: float


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Write ``checkpoint`` to ``path`` atomically."""
    arrays = {f"param{i}": p for i, p in enumerate(checkpoint.params)}
    if checkpoint.pass_logits is not None:
        arrays["pass_logits"] = checkpoint.pass_logits
    for kind, buffers in checkpoint.optimizer["buffers"].items():
        arrays |= {f"opt_{kind}{i}": b for i, b in enumerate(buffers)}
    best = checkpoint.stopping.get("best_params") or []
    arrays |= {f"best{i}": b for i, b in enumerate(best)}
    meta = {
        "fingerprint": checkpoint.fingerprint,
        "epoch": checkpoint.epoch,
        "batch": checkpoint.batch,
        "n_params": len(checkpoint.params),
        "optimizer_steps": checkpoint.optimizer["steps"],
        "optimizer_buffers": {kind: len(b) for kind, b in checkpoint.optimizer["buffers"].items()},
        "shuffle_state": checkpoint.shuffle_state,
        "dropout_state": checkpoint.dropout_state,
        "stopping": {k: v for k, v in checkpoint.stopping.items() if k != "best_params"},
        "n_best": len(best),
        "train_seconds": checkpoint.train_seconds,
        "eval_seconds": checkpoint.eval_seconds,
    }
    tmp = temporary_path(path, "tmp.npz")
    try:
        with open(tmp, "wb") as handle:  # no fsync: a killed process loses nothing the kernel holds
            np.savez(handle, meta=np.array(json.dumps(meta)), **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: Path, fingerprint: str) -> Checkpoint | None:
    """The checkpoint at ``path`` if it belongs to ``fingerprint``; None if there is none, it is another
    configuration's, or it cannot be read, empty or truncated (then it is said in one line and ignored)."""
    if not path.exists():
        return None
    try:
        with np.load(path) as archive:
            meta = json.loads(str(archive["meta"]))
            if meta["fingerprint"] != fingerprint:
                return None
            params = [archive[f"param{i}"] for i in range(meta["n_params"])]
            buffers = {
                kind: [archive[f"opt_{kind}{i}"] for i in range(count)]
                for kind, count in meta["optimizer_buffers"].items()
            }
            best = [archive[f"best{i}"] for i in range(meta["n_best"])]
            pass_logits = archive["pass_logits"] if meta["batch"] else None  # KeyError if missing: unreadable
    except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:  # JSON errors: ValueError
        log.warning("checkpoint %s unreadable (%s): starting over", path, exc)
        return None
    return Checkpoint(
        fingerprint=fingerprint,
        epoch=meta["epoch"],
        batch=meta["batch"],
        params=params,
        pass_logits=pass_logits,
        optimizer={"steps": meta["optimizer_steps"], "buffers": buffers},
        shuffle_state=meta["shuffle_state"],
        dropout_state=meta["dropout_state"],
        stopping={**meta["stopping"], "best_params": best or None},
        train_seconds=meta["train_seconds"],
        eval_seconds=meta["eval_seconds"],
    )


EPOCH_END_SECONDS = 1.0  # an epoch's end saves a checkpoint when the last is at least this old


class Checkpointer:
    """Saves the checkpoints of one run (configuration ``fingerprint``) to ``path``: the training loop calls
    :meth:`save` within an epoch whenever :meth:`due` (``seconds`` since the last), at the end of an epoch when
    :meth:`due_at_epoch_end` (the first epoch's, then when the last is at least :data:`EPOCH_END_SECONDS` old — or
    ``seconds``, if shorter: a run killed -9 loses the epochs it ended in about the last second, or its last epoch
    when that is longer; writing a file every epoch cost a pack of 40 short runs a tenth of its time), and whenever
    a signal asks training to stop."""

    def __init__(self, path: Path, fingerprint: str, seconds: float = 30.0) -> None:
        self.path, self.fingerprint, self.seconds = path, fingerprint, seconds
        self._last = time.monotonic()
        self._first = True  # none saved yet

    def due(self) -> bool:
        return time.monotonic() - self._last >= self.seconds

    def due_at_epoch_end(self) -> bool:
        return self._first or time.monotonic() - self._last >= min(self.seconds, EPOCH_END_SECONDS)

    def save(self, checkpoint: Checkpoint) -> None:
        save_checkpoint(self.path, checkpoint)
        self._last, self._first = time.monotonic(), False

    def load(self) -> Checkpoint | None:
        """The run's checkpoint (see :func:`load_checkpoint`)."""
        return load_checkpoint(self.path, self.fingerprint)
