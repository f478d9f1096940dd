"""Hostile conditions the harness held in issue 27's adversarial trial, kept as tests so they stay held: a run
killed at 20 random moments resumes to the bit-identical result, pickles in array files are never unpickled,
YAML tags in config files never run code, a deleted run folder is run again, a MemoryError fails only its run."""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nnexp.results import SUMMARY_FILE
from nnexp.training.checkpoint import CHECKPOINT_FILE
from tests.conftest import run_nnexp
from tests.test_checkpoint import TIMINGS, _comparable_summary

pytestmark = pytest.mark.slow


def test_a_run_killed_at_twenty_random_moments_resumes_to_the_uninterrupted_result(tmp_path) -> None:
    """SIGKILL at random moments (while starting, training, evaluating or writing a checkpoint), 20 times; the same
    command each time. The run that finally completes has the uninterrupted run's metrics.csv (timings aside) and
    summary.json, bit for bit."""
    args = ["data=digits", "epochs=60", "batch_size=1", "optimizer=adam", "dropout=0.2", "hidden=32"]
    reference = run_nnexp([*args, "hydra.run.dir=reference"], tmp_path)
    assert reference.returncode == 0, reference.stderr[-2000:]
    command = [sys.executable, "-m", "nnexp.run", *args, "hydra.run.dir=killed"]
    moments = random.Random(27)
    metrics, kills = tmp_path / "killed/metrics.csv", 0
    while kills < 20:
        process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        epochs_before = len(metrics.read_text().splitlines()) if metrics.exists() else 0
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:  # until this attempt trains (or ends)
            if metrics.exists() and len(metrics.read_text().splitlines()) > epochs_before:
                break
            time.sleep(0.005)
        time.sleep(moments.uniform(0, 0.3))
        if process.poll() is not None:
            break  # it finished before this kill
        process.kill()
        if process.wait() == 0:
            break  # it finished between the look and the kill
        kills += 1
        assert not (tmp_path / f"killed/{SUMMARY_FILE}").exists()
    assert kills >= 10, f"the run finished after {kills} kills: too short to test 20"
    resumed = run_nnexp([*args, "hydra.run.dir=killed"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert not (tmp_path / f"killed/{CHECKPOINT_FILE}").exists()
    assert not [p.name for p in (tmp_path / "killed").iterdir() if "tmp" in p.name.lower()]  # no temporary file left
    ours, theirs = (
        pd.read_csv(tmp_path / f"{d}/metrics.csv").drop(columns=list(TIMINGS)) for d in ("killed", "reference")
    )
    pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
    assert _comparable_summary(tmp_path / "killed/summary.json") == _comparable_summary(
        tmp_path / "reference/summary.json"
    )


class _Marker:
    """Unpickling this creates the file ``path``: the proof that a pickle was loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def _pickled_npz(path: Path, marker: Path, **arrays: np.ndarray) -> None:
    """An .npz whose ``weights`` member is an object array holding a pickle that would create ``marker``."""
    hostile = np.empty(1, dtype=object)
    hostile[0] = _Marker(marker)
    np.savez(path, weights=hostile, **arrays)


def test_a_pickle_in_a_model_file_is_refused_never_loaded(tmp_path) -> None:
    marker, model_dir = tmp_path / "unpickled", tmp_path / "run"
    model_dir.mkdir()
    _pickled_npz(model_dir / "model.npz", marker)
    images = tmp_path / "images.npy"
    np.save(images, np.zeros((2, 8, 8)))
    done = subprocess.run(
        [sys.executable, "-m", "nnexp.predict", str(model_dir), "--images", str(images)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "model.npz" in done.stderr, done.stderr
    assert not marker.exists()


def test_a_pickle_in_a_checkpoint_is_never_loaded_and_the_run_starts_over(tmp_path) -> None:
    marker, run_dir = tmp_path / "unpickled", tmp_path / "run"
    run_dir.mkdir()
    _pickled_npz(run_dir / CHECKPOINT_FILE, marker, position=np.zeros(3))
    done = run_nnexp(["data=digits", "epochs=2", "hidden=8", f"hydra.run.dir={run_dir}"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((run_dir / SUMMARY_FILE).read_text())["epochs_completed"] == 2
    assert not marker.exists()


def test_a_yaml_tag_in_a_config_file_never_runs_code(tmp_path) -> None:
    """A Python tag in a user's config group file (``--config-dir``): refused, and the code it names never runs."""
    group = tmp_path / "extra/experiment"
    group.mkdir(parents=True)
    (group / "evil.yaml").write_text('# @package _global_\nepochs: !!python/object/apply:os.system ["touch pwned"]\n')
    done = run_nnexp(["--config-dir", "extra", "+experiment=evil", "data=digits"], tmp_path)
    assert done.returncode != 0
    assert "python/object/apply:os.system" in done.stderr and "evil.yaml" in done.stderr
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "outputs").exists()


def test_a_deleted_run_folder_is_run_again_and_the_others_are_kept(tmp_path) -> None:
    args = ["-m", "data=digits", "epochs=1", "hidden=8,16", "hydra.sweep.dir=multirun/d"]
    assert run_nnexp(args, tmp_path).returncode == 0
    sweep = tmp_path / "multirun/d"
    kept, deleted = sorted(p.parent for p in sweep.glob(f"*/{SUMMARY_FILE}"))
    kept_summary = (kept / SUMMARY_FILE).read_bytes()
    shutil.rmtree(deleted)
    again = run_nnexp(args, tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "1 finished already and are skipped" in again.stdout + again.stderr
    assert json.loads((deleted / SUMMARY_FILE).read_text())["status"] == "completed"
    assert (kept / SUMMARY_FILE).read_bytes() == kept_summary
    runs = pd.read_csv(sweep / "report/runs.csv")
    assert list(runs["status"]) == ["completed", "completed"]


def _limit_address_space() -> None:
    """2 GiB of address space for the sweep and its workers (what ``ulimit -v`` does): a large run's arrays fail."""
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def test_a_memory_error_fails_only_its_run(tmp_path) -> None:
    args = ["-m", "data=digits", "epochs=1", "data.train_limit=64", "hidden=16,1000000", "hydra.sweep.dir=multirun/m"]
    done = subprocess.run(
        [sys.executable, "-m", "nnexp.run", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=_limit_address_space,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},  # OpenBLAS reserves address space per thread
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    assert "sweep done: 1 completed, 1 failed" in output
    statuses = {p.parent.name: json.loads(p.read_text()) for p in (tmp_path / "multirun/m").glob(f"*/{SUMMARY_FILE}")}
    large = statuses.pop("data.train_limit=64,data=digits,epochs=1,hidden=1000000")
    assert large["status"] == "failed" and large["error"].startswith("MemoryError")
    assert [summary["status"] for summary in statuses.values()] == ["completed"]
