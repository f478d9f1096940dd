"""Mid-run resume: a run killed (or stopped) part-way continues from its checkpoint and ends exactly as a run
that was never interrupted, metrics.csv and summary.json alike (timings aside)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nnexp.data import DataConfig, load_dataset
from nnexp.model import MLP
from nnexp.training import Method, train
from nnexp.training import checkpoint as checkpoint_module
from nnexp.training.checkpoint import CHECKPOINT_FILE, Checkpointer, load_checkpoint
from nnexp.training.interrupt import Interrupted as Stopped
from nnexp.training.interrupt import stop_on_signals
from tests.conftest import run_nnexp

TIMINGS = ("epoch_seconds", "eval_seconds")
METHOD = Method(lr=0.003, optimizer="adam", dropout=0.2, patience=4, stop_metric="val_acc")


class Interrupted(Exception):
    pass


class InterruptingCheckpointer(Checkpointer):
    """Saves every checkpoint (``seconds`` 0: also within epochs) and stops training after the ``stop_after``-th."""

    def __init__(self, path: Path, stop_after: int) -> None:
        super().__init__(path, "fp", seconds=0.0)
        self.saved, self.stop_after = 0, stop_after

    def save(self, checkpoint) -> None:
        super().save(checkpoint)
        self.saved += 1
        if self.saved == self.stop_after:
            raise Interrupted


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataConfig(name="digits", loader="digits"))


def _run(data, checkpoints=None, resume=None, rows=None):
    model = MLP.initialise([64, 24, 10], "relu", "he", np.random.default_rng(0), np.float32)
    rows = [] if rows is None else rows
    result = train(
        model,
        data,
        epochs=8,
        batch_size=16,
        method=METHOD,
        rng=np.random.default_rng(1),
        dropout_rng=np.random.default_rng(2),
        on_epoch=rows.append,
        checkpoints=checkpoints,
        resume=resume,
    )
    return model, rows, result


@pytest.mark.parametrize("stop_after", [1, 2, 7, 10])
def test_a_resumed_training_ends_as_an_uninterrupted_one(digits, tmp_path, stop_after) -> None:
    """Stopped right after its ``stop_after``-th checkpoint and resumed: 77 batches an epoch, so odd ones are
    taken within an epoch (at batch 64) and even ones at its end."""
    reference, reference_rows, reference_result = _run(digits)
    path = tmp_path / CHECKPOINT_FILE
    rows: list[dict] = []
    with pytest.raises(Interrupted):
        _run(digits, InterruptingCheckpointer(path, stop_after), rows=rows)
    checkpoint = load_checkpoint(path, "fp")
    assert checkpoint is not None and checkpoint.epoch <= len(rows)
    assert checkpoint.batch == (64 if stop_after % 2 else 0)
    kept = rows[: checkpoint.epoch]  # what metrics.csv keeps of the interrupted attempt
    model, rows, result = _run(digits, Checkpointer(path, "fp"), resume=checkpoint, rows=kept)
    assert [{k: v for k, v in r.items() if k not in TIMINGS} for r in rows] == [
        {k: v for k, v in r.items() if k not in TIMINGS} for r in reference_rows
    ]
    assert (result.epochs_completed, result.kept_epoch, result.stop_reason) == (
        reference_result.epochs_completed,
        reference_result.kept_epoch,
        reference_result.stop_reason,
    )
    for ours, theirs in zip(model.params, reference.params):
        np.testing.assert_array_equal(ours, theirs)


def test_a_signal_saves_the_epochs_ended_since_the_last_checkpoint(digits, tmp_path, monkeypatch) -> None:
    """An epoch's end saves a checkpoint when due: the first, then after EPOCH_END_SECONDS (here: never again). A
    SIGTERM to this process after epoch 5 saves epoch 5 before training stops, and the run resumed from it ends as
    one never stopped."""
    monkeypatch.setattr(checkpoint_module, "EPOCH_END_SECONDS", 1e9)
    saved: list[tuple[int, int]] = []

    class Counting(Checkpointer):
        def save(self, checkpoint) -> None:
            super().save(checkpoint)
            saved.append((checkpoint.epoch, checkpoint.batch))

    def full_batch(checkpoints=None, resume=None, rows=None, stop_at=None):
        model = MLP.initialise([64, 16, 10], "tanh", "xavier", np.random.default_rng(0), np.float32)
        rows = [] if rows is None else rows

        def record(row: dict) -> None:
            rows.append(row)
            if row["epoch"] == stop_at:
                os.kill(os.getpid(), signal.SIGTERM)

        method, rng = Method(lr=0.5, optimizer="momentum"), np.random.default_rng(1)
        train(
            model,
            data=digits,
            epochs=8,
            batch_size=None,
            method=method,
            rng=rng,
            on_epoch=record,
            checkpoints=checkpoints,
            resume=resume,
        )
        return model, rows

    reference, reference_rows = full_batch()
    path = tmp_path / CHECKPOINT_FILE
    with stop_on_signals(), pytest.raises(Stopped):
        full_batch(Counting(path, "fp"), stop_at=5)
    assert saved == [(1, 0), (5, 0)]
    checkpoint = load_checkpoint(path, "fp")
    model, rows = full_batch(Checkpointer(path, "fp"), checkpoint, reference_rows[:5])
    assert [{k: v for k, v in r.items() if k not in TIMINGS} for r in rows] == [
        {k: v for k, v in r.items() if k not in TIMINGS} for r in reference_rows
    ]
    for ours, theirs in zip(model.params, reference.params):
        np.testing.assert_array_equal(ours, theirs)


def test_checkpoints_of_another_configuration_or_unreadable_ones_are_ignored(digits, tmp_path) -> None:
    path = tmp_path / CHECKPOINT_FILE
    with pytest.raises(Interrupted):
        _run(digits, InterruptingCheckpointer(path, 3))
    assert load_checkpoint(path, "another") is None
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\0" * 64  # a real byte edit in the middle of the archive
    path.write_bytes(bytes(data))
    assert load_checkpoint(path, "fp") is None


def _comparable_summary(path: Path) -> dict:
    summary = json.loads(path.read_text())
    for key in ("train_seconds", "eval_seconds", "samples_per_second", "started", "finished", "host", "config"):
        summary.pop(key)
    summary.pop("files")  # its hash of metrics.csv covers the epochs' timings too
    return summary


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_checkpoint(tmp_path) -> None:
    """SIGKILL to a real run part-way; the same command again continues it to the uninterrupted result."""
    args = ["data=digits", "epochs=150", "optimizer=adam", "dropout=0.2", "hidden=32"]
    reference = run_nnexp([*args, "hydra.run.dir=reference"], tmp_path)
    assert reference.returncode == 0, reference.stderr[-2000:]
    command = [sys.executable, "-m", "nnexp.run", *args, "hydra.run.dir=killed"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics, deadline = tmp_path / "killed/metrics.csv", time.monotonic() + 120
    while time.monotonic() < deadline and (not metrics.exists() or len(metrics.read_text().splitlines()) < 40):
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "killed/summary.json").exists() and (tmp_path / f"killed/{CHECKPOINT_FILE}").exists()
    resumed = run_nnexp([*args, "hydra.run.dir=killed"], tmp_path)
    assert resumed.returncode == 0 and "resuming killed from epoch" in resumed.stdout + resumed.stderr
    assert not (tmp_path / f"killed/{CHECKPOINT_FILE}").exists()  # removed once the run completed
    ours, theirs = (
        pd.read_csv(tmp_path / f"{d}/metrics.csv").drop(columns=list(TIMINGS)) for d in ("killed", "reference")
    )
    pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
    assert _comparable_summary(tmp_path / "killed/summary.json") == _comparable_summary(
        tmp_path / "reference/summary.json"
    )
