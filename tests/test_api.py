"""The Python API (nnexp.api): the same sweeps, folders, files and messages as the command line, as DataFrames.

Fast tier: the values spelled as overrides, bad settings raising the command line's line, a run trained and its
network, a sweep folder read and reported, all in this process. Slow tier (a sweep's launcher starts worker
processes): a notebook's sweep against the command line, its docstrings' examples and the README's.
"""

from __future__ import annotations

import doctest
import inspect
import itertools
import logging
import lzma
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nnexp
import nnexp.api
from nnexp.console import LEVEL_VARIABLE
from nnexp.data import load_dataset
from nnexp.errors import ConfigError, ReportError
from nnexp.in_process import logging_kept
from nnexp.overrides import command_overrides, spelled
from nnexp.report.build import CURVES_FILE, build_report, shipped_digits, write_curves
from nnexp.run import cli
from nnexp.training.interrupt import Interrupted
from tests.conftest import ROOT, run_nnexp, settings_of, write_finished_run

DIGITS = {"data": "digits", "epochs": 2}
IN_THIS_PROCESS = {"hydra.launcher.n_jobs": 1}  # no worker processes (the fast tier starts none)


def test_python_values_are_spelled_as_the_command_line_types_them() -> None:
    assert command_overrides({"hidden": [32, [128, 64]], "lr": [1e-4, 0.5]}, {"data": "digits", "verbose": True}) == [
        "hidden=32,[128,64]",
        "lr=0.0001,0.5",
        "data=digits",
        "verbose=true",
    ]
    assert spelled("data.train_limit", None) == "null"
    assert spelled("hidden", "[128,64]") == "[128,64]"  # a string as typed on the command line
    assert spelled("data.root", Path("/data/a,b")) == "'/data/a,b'"  # typed bare, a comma would make it a sweep
    assert spelled("hidden", np.int64(64)) == "64"


@pytest.mark.parametrize(
    ("grid", "settings", "refused"),
    [
        ({"hidden": 64}, {}, "the grid's hidden=64 is not a list of values"),
        ({"activation": "relu"}, {}, "the grid's activation='relu' is not a list of values"),
        ({"hidden": []}, {}, "the grid's hidden has no values"),
        ({"hidden": [32]}, {"hidden": 64}, "hidden both in the grid and as a setting"),
        ({}, {"lr": {"a": 1}}, "lr={'a': 1}: a dict is not a setting's value"),
    ],
)
def test_a_grid_or_setting_python_cannot_spell_is_refused(grid, settings, refused) -> None:
    with pytest.raises(ConfigError, match=re.escape(refused)):
        nnexp.sweep(grid, **settings)


def _command_line_error(args: list[str], capsys) -> str:
    """The line ``python -m nnexp.run ARGS`` prints for a bad value, run in this process (its logging put back)."""
    capsys.readouterr()
    with logging_kept(), pytest.raises(SystemExit) as stop:
        sys.argv[1:] = args
        cli()
    assert stop.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("grid", "settings", "args"),
    [
        ({"lr": ["fast"]}, DIGITS, ["-m", "lr=fast", "data=digits", "epochs=2"]),  # refused as the command is read
        ({"lr": [0.1, "fast"]}, DIGITS, ["-m", "lr=0.1,fast", "data=digits", "epochs=2"]),  # ... as it is planned
        ({}, {"hiden": 64}, ["-m", "hiden=64"]),
    ],
)
def test_a_bad_value_raises_the_line_the_command_line_prints(
    grid, settings, args, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["nnexp.run"])
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    with pytest.raises(ConfigError) as raised:
        nnexp.sweep(grid, **settings, **IN_THIS_PROCESS)
    assert (root.handlers, root.level, sys.argv) == (handlers, level, ["nnexp.run"])  # as they were
    line = _command_line_error([*args, "hydra.launcher.n_jobs=1"], capsys)
    assert line == f"error: {raised.value} (no run was started)"
    assert not list(tmp_path.iterdir())  # nothing written


def test_train_returns_the_network_that_predicts_as_its_summary_says(tmp_path, compose_config) -> None:
    run = nnexp.train(data="digits", hidden=16, epochs=3, seed=1, dir=tmp_path / "run")
    assert isinstance(run, nnexp.TrainedRun) and run.dir == tmp_path / "run"
    assert run.summary["status"] == "completed" and run.summary["config"]["hidden"] == 16
    assert run.metrics["epoch"].tolist() == [1, 2, 3]
    assert run.metrics["test_acc"].iloc[-1] == run.summary["test_acc"]
    data = load_dataset(settings_of(compose_config(["data=digits"])).data)
    assert run.model.evaluate(data.x_test, data.y_test)[1] == run.summary["test_acc"]
    raw = data.x_test * run.preprocess.pixel_max  # the test images as the data set has them: pixels 0..16
    assert np.mean(run.predict(raw) == data.y_test) == run.summary["test_acc"]
    again = nnexp.train(data="digits", hidden=16, epochs=3, seed=1, dir=tmp_path / "run")  # finished: not rerun
    assert again.summary["finished"] == run.summary["finished"]


def test_train_refuses_a_bad_value_as_the_command_line_does(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["nnexp.run"])
    with pytest.raises(ConfigError, match=r"^batch_size=0 is invalid") as raised:
        nnexp.train(data="digits", batch_size=0)
    assert _command_line_error(["data=digits", "batch_size=0"], capsys) == f"error: {raised.value} (no run was started)"
    assert not list(tmp_path.iterdir())


def test_a_run_without_its_network_says_so(tmp_path) -> None:
    run = nnexp.train(data="digits", epochs=1, save_model=False, dir=tmp_path)
    assert run.model is None
    with pytest.raises(ConfigError, match="has no saved network; train with save_model=True"):
        run.predict(np.zeros((1, 64)))


@pytest.fixture
def finished_sweep(tmp_path) -> Path:
    """A sweep folder of four finished runs (hidden 8 / 16 x seed 0 / 1), 2 or 3 epochs each."""
    sweep_dir = tmp_path / "multirun" / "grid"
    for hidden, seed in itertools.product((8, 16), (0, 1)):
        epochs = 2 + seed
        accuracy = [0.5 + 0.01 * hidden + 0.1 * epoch for epoch in range(epochs)]
        config = {"hidden": hidden, "seed": seed, "activation": "relu", "data": {"name": "digits"}}
        write_finished_run(sweep_dir / f"hidden={hidden},seed={seed}", config, accuracy, accuracy)
    return sweep_dir


def test_load_and_curves_read_a_sweep_folder(finished_sweep) -> None:
    runs = nnexp.load(finished_sweep)
    assert len(runs) == 4 and set(runs["status"]) == {"completed"}
    assert runs.attrs["sweep_dir"] == finished_sweep
    assert sorted(zip(runs["hidden"], runs["seed"])) == [(8, 0), (8, 1), (16, 0), (16, 1)]
    curves = nnexp.curves(str(finished_sweep))
    assert len(curves) == 2 * 2 + 2 * 3  # one row per run and epoch
    last = curves.sort_values("epoch").groupby("run").last()
    assert last["test_acc"].to_dict() == runs.set_index("run")["test_acc"].to_dict()
    assert {"epoch", "train_loss", "val_acc", "hidden", "seed", "run"} <= set(curves.columns)
    with pytest.raises(ReportError, match="is not a folder"):
        nnexp.load(finished_sweep / "nothing here")


def test_report_builds_the_report_of_a_sweep_folder(finished_sweep, tmp_path) -> None:
    index = nnexp.report(finished_sweep, cols="seed", metrics=["test_acc"], out=tmp_path / "report")
    assert index == tmp_path / "report" / "index.html" and index.is_file()
    assert pd.read_csv(index.with_name("runs.csv"))["run"].tolist() == nnexp.load(finished_sweep)["run"].tolist()
    with pytest.raises(ReportError, match="lr"):
        nnexp.report(finished_sweep, rows="lr")
    with pytest.raises(ConfigError, match="jobs=0 is invalid"):
        nnexp.report(finished_sweep, jobs=0)


def test_the_report_ships_every_runs_per_epoch_metrics(finished_sweep, tmp_path) -> None:
    """The evidence of the curves: one row per run and epoch, each run's metrics.csv to the digits its measurements
    carry (times 3, losses and norms 6, accuracies 7: half a unit of the last digit kept is the tolerance)."""
    columns = ("epoch_seconds", "test_loss", "w1_norm", "test_acc", "h1_dead")
    assert [shipped_digits(column) for column in columns] == [3, 6, 6, 7, 7]
    index = nnexp.report(finished_sweep, cols="seed", metrics=["test_acc"], out=tmp_path / "report")
    shipped = pd.read_csv(index.with_name(CURVES_FILE))
    for run, epochs in shipped.groupby("run"):
        written = pd.read_csv(finished_sweep / run / "metrics.csv")
        assert list(epochs.columns) == ["run", *written.columns]
        for column in written.columns:
            tolerance = 0.5 * 10.0 ** (1 - shipped_digits(column))
            np.testing.assert_allclose(epochs[column], written[column], rtol=tolerance, err_msg=column)
    assert sorted(shipped["run"].unique()) == sorted(nnexp.load(finished_sweep)["run"])
    assert CURVES_FILE in index.with_name("index.md").read_text()
    again = nnexp.report(finished_sweep, cols="seed", metrics=["test_acc"], out=tmp_path / "again")
    assert again.with_name(CURVES_FILE).read_bytes() == index.with_name(CURVES_FILE).read_bytes()


def test_the_shipped_curves_round_each_column_to_its_digits(tmp_path) -> None:
    """Rounding, not truncation, to significant (not decimal) digits, whatever the magnitude and sign; zeros, NaN and
    infinities as they are; integer columns untouched."""
    curves = pd.DataFrame(
        {
            "run": ["a", "a", "b", "b"],
            "epoch": [1, 2, 1, 2],
            "hidden": [8, 8, 16, 16],
            "test_loss": [0.123456789, 12345.678949, -2.0000051, np.nan],
            "epoch_seconds": [0.0123456, 987.65, 0.0, np.inf],
            "test_acc": [0.98765432, 0.5, 1 / 3, 0.0],
            "w1_norm": [1.23456789e-305, 9.87654321e300, -0.0, 5e-324],  # float64 extremes, a subnormal
        }
    )
    write_curves(curves, ["hidden"], tmp_path)
    lines = lzma.decompress((tmp_path / CURVES_FILE).read_bytes()).decode().splitlines()
    assert lines == [
        "run,epoch,test_loss,epoch_seconds,test_acc,w1_norm",
        "a,1,0.123457,0.0123,0.9876543,1.23457e-305",
        "a,2,12345.7,988,0.5,9.87654e+300",
        "b,1,-2.00001,0,0.3333333,-0",
        "b,2,,inf,0,4.940656e-324",
    ]


def test_sweep_and_report_are_packages_and_the_api_functions() -> None:
    assert inspect.signature(nnexp.sweep) == inspect.signature(nnexp.api.sweep)
    assert inspect.signature(nnexp.report) == inspect.signature(nnexp.api.report)
    assert nnexp.sweep is sys.modules["nnexp.sweep"] and nnexp.report.build.build_report is build_report
    assert nnexp.load is nnexp.api.load and nnexp.train is nnexp.api.train and nnexp.TrainedRun is nnexp.api.TrainedRun
    assert {"sweep", "load", "curves", "report", "train", "__version__"} <= set(dir(nnexp))
    with pytest.raises(AttributeError):
        _ = nnexp.no_such_function


@pytest.mark.slow
def test_import_nnexp_imports_nothing_heavy() -> None:
    code = "import sys, nnexp; print(sorted({m.split('.')[0] for m in sys.modules} & {'hydra', 'pandas', 'numpy'}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_sweeps_one_after_another_in_one_process_with_their_jobs_run_in_it(tmp_path, monkeypatch) -> None:
    """n_jobs=1 runs a sweep's jobs in the notebook's own process: the next sweep still finds nnexp's launcher and
    sweeper (Hydra forgets plugins registered by hand when a job restores its state)."""
    monkeypatch.chdir(tmp_path)
    for hidden in (8, 16):
        runs = nnexp.sweep({"hidden": [hidden]}, **DIGITS, **{"hydra.launcher.n_jobs": 1})
        assert runs["status"].tolist() == ["completed"] and runs["hidden"].tolist() == [hidden]


@pytest.mark.slow
def test_a_notebook_sweep_is_the_command_lines_sweep(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    own = multiprocessing.Process(target=time.sleep, args=(600,), daemon=True)  # the notebook's own, e.g. a pool's
    own.start()
    grid = {"activation": ["relu", "tanh"], "hidden": [8, 16]}
    runs = nnexp.sweep(grid, **DIGITS)
    sweep_dir = Path("multirun/activation=relu,tanh,data=digits,epochs=2,hidden=8,16")
    assert runs.attrs["sweep_dir"] == sweep_dir and (sweep_dir / "report" / "index.html").is_file()
    assert len(runs) == 4 and set(runs["status"]) == {"completed"}
    assert sorted(zip(runs["activation"], runs["hidden"])) == sorted(itertools.product(*grid.values()))
    pd.testing.assert_frame_equal(nnexp.load(sweep_dir), runs)
    curves = nnexp.curves(sweep_dir)
    assert curves.groupby("run")["epoch"].max().to_dict() == dict.fromkeys(runs["run"], 2)
    final = curves[curves["epoch"] == 2].set_index("run")["test_acc"]
    assert final.to_dict() == runs.set_index("run")["test_acc"].to_dict()

    capsys.readouterr()
    again = nnexp.sweep(grid, **DIGITS)  # the same call: its runs finished already
    assert "4 finished already and are skipped" in capsys.readouterr().err  # a diagnostic, as on the command line
    pd.testing.assert_frame_equal(again, runs)
    command = run_nnexp(["-m", "hidden=8,16", "activation=relu,tanh", "data=digits", "epochs=2"], tmp_path)
    assert command.returncode == 0 and "4 finished already and are skipped" in command.stderr  # the same folder

    one = nnexp.sweep({"hidden": [8]}, activation="relu", **DIGITS, dir=sweep_dir)  # another sweep into it
    assert one["run"].tolist() == ["activation=relu,data=digits,epochs=2,hidden=8"] and len(nnexp.load(sweep_dir)) == 4
    fresh = nnexp.sweep({"hidden": [8]}, **DIGITS, fresh=True)
    assert fresh.attrs["sweep_dir"].name.startswith("data=digits,epochs=2,hidden=8@") and len(fresh) == 1
    assert multiprocessing.active_children() == [own]  # the sweeps ended their workers, and only theirs
    own.kill()


@pytest.mark.slow
def test_a_failed_run_is_a_row_and_a_warning(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    nowhere = {"data.root": str(tmp_path / "nowhere")}  # no MNIST files there; the digits need none
    with pytest.warns(UserWarning, match="the sweep ended with exit status 1"):
        runs = nnexp.sweep({"data": ["digits", "mnist"]}, **nowhere, epochs=1, hidden=8)
    assert dict(zip(runs["data"], runs["status"])) == {"digits": "completed", "mnist": "failed"}


def _interrupt_once_training(sweep_dir: Path) -> None:
    """(A thread) SIGINT to this process, as a notebook's interrupt, once a run of ``sweep_dir`` trains."""
    deadline = time.monotonic() + 300
    while not list(sweep_dir.glob("*/metrics.csv")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.slow
def test_an_interrupted_sweep_raises_and_the_same_call_resumes_it(tmp_path) -> None:
    grid, settings = {"seed": [0, 1]}, {"data": "digits", "epochs": 300, "dir": tmp_path / "sweep"}
    watcher = threading.Thread(target=_interrupt_once_training, args=(tmp_path / "sweep",))
    watcher.start()
    with pytest.raises(Interrupted, match="interrupted by SIGINT while the sweep ran"):
        nnexp.sweep(grid, **settings)
    watcher.join()
    assert set(nnexp.load(tmp_path / "sweep")["status"]) <= {"interrupted", "missing"}
    assert set(nnexp.sweep(grid, **settings)["status"]) == {"completed"}


@pytest.mark.slow
def test_the_docstrings_examples_run(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(LEVEL_VARIABLE, "WARNING")  # the examples show what they print, not the sweep's lines
    results = doctest.testmod(nnexp.api)
    assert results.attempted >= 15 and results.failed == 0


@pytest.mark.slow
def test_the_readme_example_runs(tmp_path, monkeypatch, capsys) -> None:
    section = (ROOT / "README.md").read_text().split("## From Python", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "sweep done: 4 completed" in printed and "completed" in printed
