"""The benchmark runs end to end on a tiny grid and writes a well-formed CSV (no timing assertions)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nnexp.bench import cli, grid, machine, synthetic
from nnexp.bench import sweep as bench_sweep
from nnexp.bench.cli import main
from nnexp.bench.grid import COLUMNS


def test_bench_tiny_grid_writes_expected_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "QUIET_WAIT", 0.0)  # no waiting for, or retrying on, a quiet machine
    monkeypatch.setattr(machine, "RETRIES", 0)
    monkeypatch.setattr(grid, "POOL_IDLE", 0.0)
    monkeypatch.setattr(cli, "reuse_freed_memory", lambda: True)  # leave the test process's malloc alone
    argv = [
        "--samples",
        "2000",
        "--hidden",
        "16",
        "--batch",
        "64,256",
        "--threads",
        "1",
        "--impl",
        "nnexp,numpy_writeup",
        "--epochs",
        "1",
        "--warmup",
        "1",
        "--out",
        str(tmp_path),
    ]
    main(argv)
    frame = pd.read_csv(tmp_path / "bench.csv")
    assert list(frame.columns) == [*COLUMNS, "background_cpus"]
    expected = [("nnexp", 64), ("nnexp", 256), ("numpy_writeup", 64), ("numpy_writeup", 256)]
    assert sorted(zip(frame["impl"], frame["batch"], strict=True)) == expected
    assert (frame["hidden"] == 16).all() and (frame["threads"] == 1).all()
    timings = frame[["sec_per_epoch", "samples_per_s", "gflops", "pct_of_peak", "ratio_vs_nnexp"]].to_numpy()
    assert np.isfinite(timings).all() and (timings > 0).all()
    assert (frame.loc[frame["impl"] == "nnexp", "ratio_vs_nnexp"] == 1).all()
    assert (tmp_path / "bench.png").stat().st_size > 0
    summary = (tmp_path / "bench.md").read_text()
    assert "## Targets" in summary
    memory = summary.split("## Memory per worker")[1]
    assert memory.count("| decoded in each worker |") == 2 and memory.count("| memory-mapped cache    |") == 2


def test_implementations_take_turns_epoch_by_epoch(monkeypatch):
    """Each round runs one epoch of every implementation, in a rotating order, so slow spells hit all alike."""
    monkeypatch.setattr(machine, "QUIET_WAIT", 0.0)
    monkeypatch.setattr(machine, "RETRIES", 0)
    monkeypatch.setattr(grid, "POOL_IDLE", 0.0)
    calls = []

    def fake(name, seconds):
        def epochs(data, hidden, batch):
            while True:
                calls.append(name)
                yield seconds

        return epochs

    monkeypatch.setattr(grid, "EPOCHS", {"nnexp": fake("nnexp", 1.0), "sklearn": fake("sklearn", 3.0)})
    args = cli.parse_args(
        ["--hidden", "8", "--batch", "4", "--threads", "1", "--impl", "nnexp,sklearn", "--epochs", "3", "--warmup", "1"]
    )
    data = synthetic.synthetic_splits(samples=20)
    frame = grid.run_grid(data, args, peaks={1: 1.0})
    assert calls == ["nnexp", "sklearn", "sklearn", "nnexp", "nnexp", "sklearn", "sklearn", "nnexp"]
    assert frame.set_index("impl")["ratio_vs_nnexp"].to_dict() == {"nnexp": 1.0, "sklearn": 3.0}


def test_schedule_makespans_on_a_known_case():
    assert bench_sweep.makespan([1.0, 1.0, 2.0], workers=2) == 3.0  # the long job starts last
    assert bench_sweep.makespan_longest_first([1.0, 1.0, 2.0], workers=2) == 2.0
    assert bench_sweep.makespan([1.0, 2.0, 3.0], workers=1) == 6.0


@given(st.lists(st.floats(0.01, 100.0), min_size=1, max_size=30), st.integers(1, 4))
def test_schedule_makespans_stay_within_the_list_scheduling_bounds(durations, workers):
    lower = max(max(durations), sum(durations) / workers)
    for span in (bench_sweep.makespan(durations, workers), bench_sweep.makespan_longest_first(durations, workers)):
        assert lower - 1e-9 <= span <= sum(durations) / workers + max(durations) + 1e-9


def test_sweep_benchmark_times_a_real_sweep_per_worker_count(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    bench_sweep.main(["data=digits", "epochs=1", "--grid", "activation=sigmoid,relu hidden=8", "--out", str(out)])
    sweeps = pd.read_csv(out / "sweep.csv")
    assert list(sweeps.columns) == bench_sweep.SWEEP_COLUMNS
    assert sweeps["workers"].tolist() == [1, 2] and (sweeps["runs"] == 2).all()
    parts = sweeps["before_runs_s"] + sweeps["runs_s"] + sweeps["after_runs_s"]
    assert np.allclose(parts, sweeps["wall_s"]) and (sweeps[["before_runs_s", "runs_s", "work_s"]] > 0).all().all()
    runs = pd.read_csv(out / "sweep_runs.csv")
    assert sorted(runs["run"].str.extract(r"activation=(\w+)")[0]) == ["relu", "relu", "sigmoid", "sigmoid"]
    assert (runs["seconds"] > 0).all() and (runs["start_offset_s"] > 0).all()
    assert "Speed-up of the whole command, 2 workers against 1" in (out / "sweep.md").read_text()
    assert (out / "sweep.png").stat().st_size > 0


def test_sweep_benchmark_rejects_a_single_worker_count(capsys):
    with pytest.raises(SystemExit) as stop:
        bench_sweep.main(["--workers", "2"])
    assert stop.value.code == 2
    assert "--workers=2 is invalid; allowed: two or more positive ints" in capsys.readouterr().err


def test_sweep_benchmark_needs_a_grid_sweep_plan(tmp_path):
    with pytest.raises(SystemExit, match="has no sweep plan; the sweep benchmark needs Hydra's basic sweeper"):
        bench_sweep.run_times(tmp_path)


def test_benchmark_grid_options_take_positive_ints_only(capsys):
    with pytest.raises(SystemExit):
        bench_sweep.main(["--workers", "1,x"])
    assert "'1,x' is invalid; allowed: positive ints, comma-separated" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.parse_args(["--hidden", "0"])
    assert "'0' is invalid; allowed: positive ints, comma-separated" in capsys.readouterr().err
