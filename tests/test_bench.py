"""The benchmark runs end to end on a tiny grid and writes a well-formed CSV (no timing assertions)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nnexp.bench import cli, grid, implementations, machine, summary, synthetic
from nnexp.bench import sweep as bench_sweep
from nnexp.bench.cli import main
from nnexp.bench.grid import COLUMNS
from nnexp.optim import OPTIMIZERS


@pytest.fixture
def no_waiting(monkeypatch):
    """No waiting for, or retrying on, a quiet machine, and no pause between implementations."""
    monkeypatch.setattr(machine, "QUIET_WAIT", 0.0)
    monkeypatch.setattr(machine, "RETRIES", 0)
    monkeypatch.setattr(grid, "POOL_IDLE", 0.0)


@pytest.mark.slow
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
    assert (frame["optimizer"] == "sgd").all()  # the default optimizer once --hidden/--batch are given
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
        def epochs(data, hidden, batch, optimizer):
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


@pytest.mark.slow
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
    with pytest.raises(SystemExit, match="has no sweep plan; the sweep benchmark needs a grid sweep"):
        bench_sweep.run_times(tmp_path)


def test_benchmark_grid_options_take_positive_ints_only(capsys):
    with pytest.raises(SystemExit):
        bench_sweep.main(["--workers", "1,x"])
    assert "'1,x' is invalid; allowed: positive ints, comma-separated" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.parse_args(["--hidden", "0"])
    assert "'0' is invalid; allowed: positive ints, comma-separated" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_times_optimizers_and_batch_modes_skipping_what_an_implementation_lacks(
    tmp_path, monkeypatch, no_waiting, capsys
):
    """Per-sample, mini-batch and full-batch rows with sgd and adam: the baseline has no adam and is skipped."""
    pytest.importorskip("torch")
    monkeypatch.setattr(cli, "reuse_freed_memory", lambda: True)
    monkeypatch.setattr(cli, "matmul_peak", lambda threads: 100.0)  # the memory and peak probes: covered above
    monkeypatch.setattr(cli, "loader_memory", lambda folder, samples: pd.DataFrame({"data": ["-"], "pss_mib": [1.0]}))
    argv = ["--samples", "200", "--hidden", "8", "--batch", "1,64,full", "--threads", "1", "--optimizer", "adam,sgd"]
    main([*argv, "--epochs", "1", "--warmup", "0", "--out", str(tmp_path)])
    frame = pd.read_csv(tmp_path / "bench.csv", dtype={"batch": str})
    assert list(frame.columns) == [*COLUMNS, "background_cpus"]
    rows = set(zip(frame["impl"], frame["optimizer"], frame["batch"], strict=True))
    sgd = {(impl, "sgd", batch) for impl in implementations.IMPLS for batch in ("1", "64", "full")}
    adam = {(impl, "adam", batch) for impl in ("nnexp", "torch", "sklearn") for batch in ("1", "64", "full")}
    assert rows == sgd | adam and len(frame) == len(rows)
    assert list(dict.fromkeys(frame["optimizer"])) == ["adam", "sgd"]  # the order of OPTIMIZERS, not of the option
    timings = frame[["sec_per_epoch", "samples_per_s", "ratio_vs_nnexp"]].to_numpy()
    assert np.isfinite(timings).all() and (timings > 0).all()
    assert (frame.loc[frame["impl"] == "nnexp", "ratio_vs_nnexp"] == 1).all()
    progress = capsys.readouterr().out
    assert "[3/6] adam H=8 batch=full threads=1: nnexp" in progress and "numpy_writeup skipped (no adam)" in progress
    assert (tmp_path / "bench.png").stat().st_size > 0
    text = (tmp_path / "bench.md").read_text()
    table = text.split("## Targets")[0]
    assert "| optimizer " in table and "| adam " in table and "| full " in table
    assert "- numpy_writeup skipped at the adam rows: it is timed with sgd only" in text
    assert "Learning rates (they do not change the time of an epoch): adam 0.001, sgd 0.1;" in text
    assert "same in every implementation: adam beta1 0.9, beta2 0.999, eps 1e-08." in text
    targets = [line for line in text.split("## Targets")[1].split("##")[0].splitlines() if line.startswith("- ")]
    assert len(targets) == len(summary.SPEED_TARGETS) + 1  # (c) is not a speed ratio
    assert all(line.endswith("SKIP (not measured)") for line in targets)  # nothing at H=128 or 256


def test_each_setting_takes_turns_among_the_implementations_that_have_its_optimizer(monkeypatch, no_waiting):
    calls = []

    def fake(name):
        def epochs(data, hidden, batch, optimizer):
            while True:
                calls.append((name, optimizer, batch))
                yield {"nnexp": 1.0, "numpy_writeup": 2.0, "sklearn": 4.0}[name] * (1 + (optimizer == "adam"))

        return epochs

    argv = ["--hidden", "8", "--batch", "full", "--threads", "1", "--impl", "nnexp,numpy_writeup,sklearn"]
    args = cli.parse_args([*argv, "--optimizer", "sgd,adam", "--epochs", "2", "--warmup", "1"])
    monkeypatch.setattr(grid, "EPOCHS", {name: fake(name) for name in ("nnexp", "numpy_writeup", "sklearn")})
    frame = grid.run_grid(synthetic.synthetic_splits(samples=20), args, peaks={1: 1.0})
    adam_rounds = [["nnexp", "sklearn"], ["sklearn", "nnexp"], ["nnexp", "sklearn"]]  # the baseline has no adam
    sgd_rounds = [["nnexp", "numpy_writeup", "sklearn"], ["numpy_writeup", "sklearn", "nnexp"]]
    sgd_rounds.append(["sklearn", "nnexp", "numpy_writeup"])
    sgd_calls = [(name, "sgd", None) for order in sgd_rounds for name in order]  # full batch: batch_size None
    assert calls == [(name, "adam", None) for order in adam_rounds for name in order] + sgd_calls  # registry order
    assert list(zip(frame["impl"], frame["optimizer"], frame["batch"], frame["ratio_vs_nnexp"], strict=True)) == [
        ("nnexp", "adam", "full", 1.0),
        ("sklearn", "adam", "full", 4.0),
        ("nnexp", "sgd", "full", 1.0),
        ("numpy_writeup", "sgd", "full", 2.0),
        ("sklearn", "sgd", "full", 4.0),
    ]
    assert grid.lacking(args) == {"numpy_writeup": ["adam"]}


def test_default_grids_add_optimizers_and_batch_modes_only_where_asked():
    full, quick = cli.parse_args([]), cli.parse_args(["--quick"])
    others = [name for name in OPTIMIZERS if name != "sgd"]
    assert others == ["adam", "momentum", "nesterov", "rmsprop"]
    for args in (full, quick):
        settings = grid.settings(args)
        assert len(settings) == len(set(settings))
        assert {(o, h, b) for o, h, b, _ in settings if o != "sgd"} == {(o, 128, 64) for o in others}
        # every target's rows are in both grids
        for target in summary.SPEED_TARGETS:
            threads = [target.threads] if target.threads else [1, 2]
            assert {(target.optimizer, target.hidden, target.batch, t) for t in threads} <= set(settings)
        assert ("sgd", 256, 64, 1) in settings  # target (c)
    batch_modes = {(o, h, b) for o, h, b, _ in grid.settings(full) if b in (1, "full")}
    assert batch_modes == {("sgd", 128, 1), ("sgd", 128, "full")}
    assert not any(b in (1, "full") for _, _, b, _ in grid.settings(quick))  # too slow for --quick
    assert len(grid.settings(quick)) == 2 * (2 + len(others))
    assert grid.rounds(full, 1) == (0, 1) and grid.rounds(full, 64) == (2, 3) and grid.rounds(full, "full") == (2, 3)
    given = cli.parse_args(["--batch", "1,full", "--epochs", "4", "--threads", "2"])
    assert grid.settings(given) == [("sgd", h, b, 2) for h in (32, 128, 256) for b in (1, "full")]
    assert grid.rounds(given, 1) == (0, 4) and grid.rounds(given, "full") == (2, 4)
    adam = cli.parse_args(["--quick", "--optimizer", "adam"])
    assert grid.settings(adam) == [("adam", h, 64, t) for h in (128, 256) for t in (1, 2)]


def test_optimizer_and_batch_options_reject_what_is_not_allowed(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.parse_args(["--optimizer", "sgd,lbfgs"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(f"error: argument --optimizer: unknown lbfgs; allowed: {', '.join(OPTIMIZERS)}")
    for bad in ("0", "half", "64,", "full,-1"):
        with pytest.raises(SystemExit):
            cli.parse_args(["--batch", bad])
        assert f"{bad!r} is invalid; allowed: positive ints or full, comma-separated" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.parse_args(["--impl", "numpy_writeup", "--optimizer", "adam,rmsprop"])
    assert "--impl numpy_writeup has none of the optimizers adam,rmsprop" in capsys.readouterr().err


def test_peers_train_with_the_same_optimizer_settings_as_nnexp():
    torch = pytest.importorskip("torch")
    assert set(implementations.LEARNING_RATES) == set(OPTIMIZERS)
    assert set(implementations.OPTIMIZERS_OF) == set(implementations.IMPLS)
    assert all(set(names) <= set(OPTIMIZERS) for names in implementations.OPTIMIZERS_OF.values())
    params = [torch.nn.Parameter(torch.zeros(2))]
    expected = {
        "sgd": (torch.optim.SGD, {"momentum": 0, "nesterov": False}),
        "momentum": (torch.optim.SGD, {"momentum": 0.9, "nesterov": False, "dampening": 0}),
        "nesterov": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True, "dampening": 0}),
        "adam": (torch.optim.Adam, {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0, "amsgrad": False}),
        "rmsprop": (torch.optim.RMSprop, {"alpha": 0.99, "eps": 1e-8, "momentum": 0, "centered": False}),
    }
    for name, (cls, settings) in expected.items():
        optimiser = implementations.torch_optimizer(name, params, implementations.LEARNING_RATES[name])
        assert type(optimiser) is cls
        assert optimiser.defaults["lr"] == implementations.LEARNING_RATES[name]
        assert {key: optimiser.defaults[key] for key in settings} == settings
    data = synthetic.synthetic_splits(samples=20)
    for impl in ("numpy_writeup", "sklearn"):
        with pytest.raises(ValueError, match="rmsprop"):
            next(implementations.EPOCHS[impl](data, 4, 8, "rmsprop"))


def _row(impl, optimizer, hidden, threads, seconds, batch=64, pct=90.0):
    row = {"impl": impl, "optimizer": optimizer, "hidden": hidden, "batch": batch, "threads": threads}
    return {**row, "sec_per_epoch": seconds, "pct_of_peak": pct, "gflops": 100.0}


def test_targets_check_sgd_at_each_thread_count_and_every_optimizer_against_torch():
    rows = [
        _row("nnexp", "sgd", 128, 1, 1.0),
        _row("torch", "sgd", 128, 1, 1.6),  # (e) PASS
        _row("nnexp", "sgd", 128, 2, 0.5),
        _row("torch", "sgd", 128, 2, 0.7),  # (e) FAIL: 1.4x
        _row("nnexp", "sgd", 256, 1, 2.0, pct=60.0),  # (c) FAIL
        _row("torch", "sgd", 256, 1, 3.0),  # (e) PASS: exactly 1.5x
        _row("nnexp", "adam", 256, 1, 2.0),  # not sgd: not (c)
        _row("nnexp", "sgd", 256, 2, 1.0),  # (e) 256 at 2 threads: no torch row, not measured
        _row("sklearn", "sgd", 128, 1, 1.2),  # (b): 1.2 / 0.5 = 2.4x PASS
        _row("torch", "sgd", 128, 1, 0.1, batch="full"),  # other batches, other optimizers: not sgd batch 64
        _row("torch", "adam", 128, 2, 0.1),
        _row("nnexp", "momentum", 128, 1, 1.0),
        _row("torch", "momentum", 128, 2, 1.3),  # (f) PASS: exactly 1.3x, best threads each
        _row("nnexp", "adam", 128, 1, 1.0),
        _row("nnexp", "adam", 128, 2, 2.0),  # (f) adam: 0.1 / 1.0 FAIL
        _row("nnexp", "nesterov", 128, 1, 1.0),  # (f) nesterov: no torch row; rmsprop: no row at all
    ]
    lines = summary.evaluate_targets(pd.DataFrame(rows))
    assert [line[:3] for line in lines] == ["(a)", "(b)", "(c)", "(d)", *["(e)"] * 4, *["(f)"] * 4]
    verdicts = [line.rsplit(" ", 1)[1] if not line.endswith("(not measured)") else "not measured" for line in lines]
    assert verdicts == [
        *["FAIL", "PASS", "FAIL", "not measured"],  # (a) 0.7 / 0.5 at 2 threads each, (b) 1.2 / 0.5, (c) 60%
        *["PASS", "FAIL", "PASS", "not measured"],
        *["PASS", "not measured", "FAIL", "not measured"],
    ]
    assert lines[4].startswith("(e) nnexp sgd >= 1.5x faster than torch sgd at H=128 batch 64, 1 thread(s): 1.60x")
    assert lines[7].startswith("(e) nnexp sgd >= 1.5x faster than torch sgd at H=256 batch 64, 2 thread(s): SKIP")
    assert lines[8].startswith(
        "(f) nnexp momentum >= 1.3x faster than torch momentum at H=128 batch 64, best threads each: 1.30x"
        " (nnexp 1.000 s at 1 thread(s), torch 1.300 s at 2)"
    )
    assert "(f) nnexp rmsprop" in lines[11] and "(f) nnexp adam" in lines[10] and "0.10x" in lines[10]


def test_targets_read_not_measured_when_nothing_was():
    empty = pd.DataFrame(columns=[*COLUMNS, "background_cpus"])
    lines = summary.evaluate_targets(empty)
    assert len(lines) == len(summary.SPEED_TARGETS) + 1
    assert all(line.endswith("SKIP (not measured)") for line in lines)


@pytest.mark.slow
def test_startup_bench_times_each_command_as_a_user_runs_it(tmp_path) -> None:
    from nnexp.bench import startup

    times = startup.main(["--repeats", "1", "--out", str(tmp_path)])
    assert list(times["command"]) == list(startup.commands(grids=False, mnist_root=None))
    assert (times["seconds"] > 0).all() and (times["repeat"] == 0).all()
    written = pd.read_csv(tmp_path / "startup.csv")
    assert written["seconds"].tolist() == pytest.approx(times["seconds"].tolist())
    assert "| help " in (tmp_path / "startup.md").read_text()


def test_packs_bench_names_rows_by_preset_and_overrides_and_refuses_what_it_sets_itself(tmp_path, capsys) -> None:
    from nnexp.bench import packs

    root = ["--mnist-root", str(tmp_path)]
    args = packs.parse_args(["--override", "hidden=16", "--override", "hidden=[16,64]", *root])
    assert args.override == ["hidden=16", "hidden=[16,64]"] and args.preset is None
    for bad in (
        "pack=false",
        "epochs=3",
        "+experiment=w003_multiclass",
        "hidden=16,32",
        "hydra.launcher.n_jobs=1",
        "x",
    ):
        with pytest.raises(SystemExit):
            packs.parse_args(["--override", bad, *root])
        assert f"--override={bad} is invalid; allowed: KEY=VALUE with one value" in capsys.readouterr().err
    times = pd.DataFrame(
        [
            {"preset": preset, "pack": pack, "repeat": 0, "wall_s": wall, "runs": 12, "packs": 3 * pack, "load_1min": 0}
            for preset, (off, on) in {
                "w003_multiclass": (97.0, 98.5),
                "w003_multiclass hidden=16": (56.0, 43.0),
            }.items()
            for pack, wall in ((False, off), (True, on))
        ]
    )
    moved = dict.fromkeys(times["preset"], (0.0, 0.0))
    shown = packs.table(times, moved)
    assert shown.loc["w003_multiclass", "target"] == "1.5x: missed" and shown.loc["w003_multiclass", "packs"] == 3
    assert (
        shown.loc["w003_multiclass hidden=16", "target"] == ""
        and shown.loc["w003_multiclass hidden=16", "speed-up"] == 1.3
    )
    assert "pack=true|false hidden=16 epochs=100`" in packs.summary(times, moved, 100, ["hidden=16"])
