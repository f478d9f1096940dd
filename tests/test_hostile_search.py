"""Searches survive like sweeps (issue 27, principle 2), provoked for real on real Optuna searches: a worker killed
with SIGKILL (what the OOM killer does) fails only its trial, and a search killed mid-way resumes from its study."""

from __future__ import annotations

import json
import os
import signal

import pytest

from nnexp.results import SUMMARY_FILE
from tests.test_faults import _registered_workers, _start
from tests.test_scaling_out import needs_optuna

pytestmark = [pytest.mark.slow, needs_optuna]

# trials of a few seconds each on the bundled digits (per-sample SGD), two at a time; the search space: lr, activation
SEARCH = [
    "-m",
    "+hparams_search=optuna",
    "data=digits",
    "batch_size=1",
    "epochs=20",
    "hidden=16",
    "lr=interval(0.001,0.01)",
    "report.enabled=false",
]
KILLED = "worker process killed by signal 9 (out of memory?)"


def _study(root):
    import optuna

    storage = f"sqlite:///{root / 'multirun/search_digits/optuna.db'}"
    return optuna.load_study(study_name="nnexp_digits", storage=storage)


def _summaries(root) -> list[dict]:
    return [json.loads(p.read_text()) for p in (root / "multirun/search_digits").glob(f"*/{SUMMARY_FILE}")]


def test_a_killed_worker_fails_only_its_trial_and_the_search_goes_on(tmp_path) -> None:
    process = _start([*SEARCH, "hydra.sweeper.n_trials=3"], tmp_path)
    workers = _registered_workers(tmp_path / "multirun/search_digits", 2)
    os.kill(next(iter(workers)), signal.SIGKILL)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 1, output[-3000:]  # a search with a failed run, as a sweep with one
    assert f"Failed experiment: {KILLED}" in output, output[-3000:]
    states = sorted(trial.state.name for trial in _study(tmp_path).trials)
    assert states == ["COMPLETE", "COMPLETE", "FAIL"], output[-3000:]  # on to n_trials, nothing left RUNNING
    summaries = _summaries(tmp_path)
    assert sorted(s["status"] for s in summaries) == ["completed", "completed", "failed"]
    failed = next(s for s in summaries if s["status"] == "failed")
    assert failed["error"] == KILLED and failed["fingerprint"] and failed["config"]["batch_size"] == 1
    assert "sweep done: 2 completed, 1 failed" in output

