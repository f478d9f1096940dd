"""Searches survive like sweeps (issue 27, principle 2), provoked for real on real Optuna searches: a worker killed
with SIGKILL (what the OOM killer does) fails only its trial, and a search killed mid-way resumes from its study."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from nnexp.results import SUMMARY_FILE
from tests.conftest import run_nnexp
from tests.test_faults import _descendants, _epochs_done, _kill_a_worker_mid_run, _registered_workers, _start
from tests.test_scaling_out import needs_optuna

pytestmark = [pytest.mark.slow, needs_optuna]

# trials of about 5 s each on the bundled digits (per-sample SGD), two at a time (long enough that a trial started
# first is still running when the other, whose worker may start a second later, is some epochs in); the search
# space: lr, activation
SEARCH = [
    "-m",
    "+hparams_search=optuna",
    "data=digits",
    "batch_size=1",
    "epochs=100",
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
    _kill_a_worker_mid_run(tmp_path / "multirun/search_digits")
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


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_search_resumes_from_its_study_and_retries_the_trials_it_left_running(tmp_path, signum) -> None:
    search = [*SEARCH, "hydra.sweeper.n_trials=2"]
    process = _start(search, tmp_path)
    folder = tmp_path / "multirun/search_digits"
    _registered_workers(folder, 2)
    deadline = time.monotonic() + 120  # both trials a few epochs in: each run has a checkpoint
    while time.monotonic() < deadline and sum(_epochs_done(p) >= 2 for p in folder.glob("*/metrics.csv")) < 2:
        time.sleep(0.05)
    # SIGKILL: the whole search at once, as a lost machine; SIGTERM: to the search, which stops its runs and exits
    for pid in [process.pid, *_descendants(process.pid)] if signum == signal.SIGKILL else [process.pid]:
        os.kill(pid, signum)
    process.communicate(timeout=120)
    left = {trial.number: trial.params for trial in _study(tmp_path).trials}
    assert len(left) == 2 and {s["status"] for s in _summaries(tmp_path)} <= {"interrupted"}
    resumed = run_nnexp(search, tmp_path)
    output = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, output[-3000:]
    assert "2 trials of a search that ended before they did (0, 1) are failed" in output, output[-3000:]
    resuming = [line for line in output.splitlines() if line.startswith("resuming ")]
    assert len(resuming) == 2, output[-3000:]  # from their checkpoints
    trials = _study(tmp_path).trials
    assert [trial.state.name for trial in trials] == ["FAIL", "FAIL", "COMPLETE", "COMPLETE"]
    assert all("ended before it did" in trial.user_attrs["fail_reason"] for trial in trials[:2])
    assert [trial.params for trial in trials[2:]] == [left[0], left[1]]  # the abandoned settings, tried again
    assert sorted(s["status"] for s in _summaries(tmp_path)) == ["completed", "completed"]


def test_trials_of_a_search_running_from_another_sweep_folder_are_left_running(tmp_path) -> None:
    """Two searches may share one study (``hydra.sweeper.storage``) from different sweep folders: the lock that
    says a search is running is the study's (beside its SQLite file), so a search starting elsewhere leaves the
    running one's trials alone; once no search holds it, they are failed, with their reason, and tried again."""
    import fcntl

    import optuna
    from omegaconf import OmegaConf

    from nnexp.sweep import study as studies

    storage = f"sqlite:///{tmp_path / 'shared/optuna.db'}"
    (tmp_path / "shared").mkdir()
    running = optuna.create_study(study_name="s", storage=storage).ask(
        {"lr": optuna.distributions.UniformDistribution(0, 1)}
    )
    other = open(studies.study_lock(storage), "a")  # noqa: SIM115 (the other search, alive)
    fcntl.flock(other, fcntl.LOCK_SH)
    sweeper = {"_target_": studies.OPTUNA_SWEEPER, "storage": storage, "study_name": "s"}
    config = OmegaConf.create({"hydra": {"sweeper": sweeper, "sweep": {"dir": str(tmp_path / "another_folder")}}})
    studies.resume_study(config)
    assert _state(storage, running.number) == "RUNNING"
    other.close()  # the other search ended
    studies.resume_study(config)  # the next search of this process
    trial = optuna.load_study(study_name="s", storage=storage).trials[running.number]
    assert trial.state.name == "FAIL" and trial.user_attrs["fail_reason"] == studies.ABANDONED


def _state(storage: str, number: int) -> str:
    import optuna

    return optuna.load_study(study_name="s", storage=storage).trials[number].state.name
