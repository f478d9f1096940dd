"""The memory a run will take, estimated before it starts: within 30% of the peak resident memory measured
on the benchmark's shapes (full MNIST, 784 inputs; hidden 32 to 4096; batch 1, 64, 256 and full)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nnexp.errors import ConfigError
from nnexp.results.plan_file import MemoryEstimate
from nnexp.training import RunSpec
from nnexp.training.memory import check_fits, estimate_memory
from tests.conftest import run_nnexp, settings_of

MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"

PEAK = """
import resource, subprocess, sys
subprocess.run([sys.executable, "-m", "nnexp.run", *sys.argv[1:]], check=True, capture_output=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
"""

SHAPES = [
    ["hidden=32", "batch_size=64"],
    ["hidden=256", "batch_size=64"],
    ["hidden=256", "batch_size=full"],
    ["hidden=128", "batch_size=1"],
    ["hidden=1024", "batch_size=64", "optimizer=adam"],
    ["hidden=4096", "batch_size=256", "optimizer=adam", "early_stopping.patience=2"],
    ["hidden=[256,128]", "batch_size=64", "optimizer=momentum", "dropout=0.2"],
    ["hidden=256", "batch_size=64", "data.cache_arrays=false"],
]


@pytest.mark.slow
@pytest.mark.skipif(not MNIST.is_dir(), reason="needs the full MNIST in ../shared/data/mnist")
def test_the_estimate_is_within_30_percent_of_the_measured_peak(tmp_path, compose_config) -> None:
    data = [f"data.root={MNIST}", "epochs=1"]
    assert run_nnexp([*data, "hidden=8", "hydra.run.dir=warm"], tmp_path).returncode == 0  # the cache is built
    for i, shape in enumerate(SHAPES):  # a folder each: a folder holding another configuration's run is refused
        measured = subprocess.run(
            [sys.executable, "-c", PEAK, *data, *shape, f"hydra.run.dir={tmp_path / f'run{i}'}"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        peak = int(measured.stdout.strip())
        estimate = estimate_memory(RunSpec.from_settings(settings_of(compose_config([*data, *shape]))))
        assert abs(estimate.total - peak) <= 0.3 * peak, f"{shape}: estimated {estimate.total:,}, measured {peak:,}"


def test_runs_that_would_not_fit_together_are_refused_in_one_line() -> None:
    small, large = MemoryEstimate(private=100, shared=50), MemoryEstimate(private=400, shared=50)
    check_fits({"a": small, "b": large}, at_once=2, available=600)  # 400 + 100 + 50 once
    with pytest.raises(ConfigError, match=r"2 runs at a time would need about 1 MiB; b alone about 1 MiB"):
        check_fits({"a": small, "b": large}, at_once=2, available=500)
    check_fits({"a": small, "b": large}, at_once=1, available=460)
    check_fits({"a": small}, at_once=4, available=None)  # unknown: not refused


@pytest.mark.slow
def test_a_sweep_too_large_for_this_machine_is_refused_before_any_run(tmp_path) -> None:
    done = run_nnexp(["-m", "data=digits", "hidden=8,50000000", "epochs=1", "hydra.sweep.dir=sweep"], tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-2000:]
    (line,) = [line for line in output.splitlines() if "error:" in line]
    assert "not enough memory" in line and "hidden=50000000" in line and "GiB" in line
    assert not list((tmp_path / "sweep").glob("*/.hydra"))
