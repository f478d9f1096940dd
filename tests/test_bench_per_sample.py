"""The per-sample benchmark times real runs and the benchmark's cell side by side (no timing assertions)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from nnexp.bench import per_sample


def test_cell_times_one_epoch_of_the_benchmarks_nnexp_cell():
    us = per_sample.cell_us_per_step(hidden=4, rows=200)
    assert math.isfinite(us) and us > 0


def test_runs_side_by_side_are_a_sweep_over_seeds_with_one_worker_each():
    alone = per_sample._run_command(["hidden=4"], 1, Path("out"))
    assert alone[alone.index("nnexp.run") :] == [
        "nnexp.run",
        "-q",
        "hidden=4",
        "report.enabled=false",
        "hydra.run.dir=out",
    ]
    pair = per_sample._run_command(["hidden=4"], 2, Path("out"))
    assert pair[pair.index("nnexp.run") + 2 :] == [
        "-m",
        "hidden=4",
        "report.enabled=false",
        "seed=0,1",
        "hydra.launcher.n_jobs=2",
        "hydra.sweep.dir=out",
    ]


def test_compare_takes_medians_ranges_and_their_ratio():
    raw = pd.DataFrame(
        [
            {"hidden": 8, "workers": 1, "repeat": r, "side": side, "us_per_step": us, "other_cpus": 0.1 * r}
            for r, (run, bench) in enumerate([(60.0, 50.0), (66.0, 40.0), (63.0, 45.0)])
            for side, us in (("run", run), ("bench", bench))
        ]
    )
    row = per_sample.compare(raw).iloc[0]
    assert (row["run_us"], row["run_us_min"], row["run_us_max"]) == (63.0, 60.0, 66.0)
    assert (row["bench_us"], row["bench_us_min"], row["bench_us_max"]) == (45.0, 40.0, 50.0)
    assert row["ratio"] == pytest.approx(63.0 / 45.0)
    assert row["other_cpus_max"] == pytest.approx(0.2)


@pytest.mark.slow
def test_per_sample_benchmark_times_runs_and_cells_alone_and_in_pairs(tmp_path):
    table = per_sample.main(
        ["data=digits", "--hidden", "4", "--workers", "1,2", "--repeats", "1", "--out", str(tmp_path)]
    )
    assert table[["hidden", "workers"]].values.tolist() == [[4, 1], [4, 2]]
    assert (table[["run_us", "bench_us", "ratio"]] > 0).all().all()
    raw = pd.read_csv(tmp_path / "per_sample.csv")
    assert list(raw.columns) == per_sample.RAW_COLUMNS
    assert raw.groupby(["workers", "side"]).size().to_dict() == {
        (1, "bench"): 1,
        (1, "run"): 1,
        (2, "bench"): 2,
        (2, "run"): 2,
    }
    assert "|   ratio |" in (tmp_path / "per_sample.md").read_text()
