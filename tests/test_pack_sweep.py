"""Packs in a real sweep (processes: the slow tier): the plan packs full-batch runs, the leaders train them, every
member's folder is a run's, a signal stops and a rerun resumes them, and ``pack=false`` gives the same figures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from nnexp.results import METRICS_FILE, SUMMARY_FILE
from nnexp.training.checkpoint import CHECKPOINT_FILE
from tests.conftest import run_nnexp

pytestmark = pytest.mark.slow

GRID = ["-m", "data=digits", "batch_size=full", "hidden=16", "lr=0.1,0.5,1", "seed=0,1", "hydra.launcher.n_jobs=2"]
TOLERANCE = 1e-5  # relative, of a loss after a few epochs (tests/test_pack.py states the float32 bound)


def _plan(sweep: Path) -> list[dict]:
    return json.loads((sweep / "sweep_plan.json").read_text())["jobs"]


def _finals(sweep: Path) -> dict[str, dict]:
    return {job["dir"]: json.loads((sweep / job["dir"] / SUMMARY_FILE).read_text()) for job in _plan(sweep)}


def test_a_sweep_trains_packs_and_every_member_folder_is_a_runs(tmp_path) -> None:
    sweep, alone = tmp_path / "packed", tmp_path / "alone"
    done = run_nnexp([*GRID, "epochs=6", f"hydra.sweep.dir={sweep}", "report.enabled=false"], tmp_path)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    jobs = _plan(sweep)
    leaders = [job for job in jobs if job["pack"]]
    assert len(leaders) == 2 and sorted(len(job["pack"]) for job in leaders) == [2, 2]
    assert {job["packed_by"] for job in jobs if not job["pack"]} == {job["dir"] for job in leaders}
    for job in jobs:
        folder = sweep / job["dir"]
        assert (folder / ".hydra/overrides.yaml").exists()
        assert len(pd.read_csv(folder / METRICS_FILE)) == 6
        log = (folder / "run.log").read_text()
        assert log.count(" epoch ") == 6 and "trained in a pack of 3 runs" in log
        assert not (folder / CHECKPOINT_FILE).exists()
    packed = _finals(sweep)
    assert {summary["status"] for summary in packed.values()} == {"completed"}
    off = run_nnexp([*GRID, "epochs=6", "pack=false", f"hydra.sweep.dir={alone}", "report.enabled=false"], tmp_path)
    assert off.returncode == 0, (off.stdout + off.stderr)[-3000:]
    assert not any(job["pack"] or job["packed_by"] for job in _plan(alone))
    for name, summary in _finals(alone).items():
        assert packed[name]["fingerprint"] == summary["fingerprint"]
        assert packed[name]["train_loss"] == pytest.approx(summary["train_loss"], rel=TOLERANCE)
        assert abs(packed[name]["test_acc"] - summary["test_acc"]) <= 1 / 360
    again = run_nnexp([*GRID, "epochs=6", f"hydra.sweep.dir={sweep}", "report.enabled=false"], tmp_path)
    assert again.returncode == 0 and "6 finished already and are skipped" in again.stderr, again.stdout + again.stderr
    assert _finals(sweep) == packed  # nothing trained again, nothing rewritten


def test_a_signal_stops_a_packed_sweep_and_the_same_command_resumes_it(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    args = [*GRID, "epochs=4000", "diagnostics=false", f"hydra.sweep.dir={sweep}", "report.enabled=false"]
    process = subprocess.Popen(
        [sys.executable, "-m", "nnexp.run", *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # every run a few epochs in: each has a checkpoint
        metrics = list(sweep.glob(f"*/{METRICS_FILE}"))
        if len(metrics) == 6 and all(len(path.read_text().splitlines()) > 5 for path in metrics):
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 143, output[-3000:]
    statuses = [json.loads((sweep / job["dir"] / SUMMARY_FILE).read_text())["status"] for job in _plan(sweep)]
    assert statuses == ["interrupted"] * 6, output[-3000:]
    assert len(list(sweep.glob(f"*/{CHECKPOINT_FILE}"))) == 6
    resumed = run_nnexp(args, tmp_path, timeout=600)
    output = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, output[-3000:]
    assert {summary["status"] for summary in _finals(sweep).values()} == {"completed"}
    for job in _plan(sweep):
        folder = sweep / job["dir"]
        assert "resuming" in (folder / "run.log").read_text()
        epochs = pd.read_csv(folder / METRICS_FILE)["epoch"]
        assert list(epochs) == list(range(1, 4001))  # every epoch once: the resumed rows follow the kept ones
