"""Trackers (nnexp.tracking, nnexp.export): a sweep logged to TensorBoard and MLflow as it trains, and a finished one
exported, read back with TensorBoard's own reader and MLflow's client.

Slow tier (a sweep starts processes: its workers, git for its provenance): sweeps through ``nnexp.sweep`` read back,
exported twice; a bad tracker refused before any run; a tracker's library missing; what ``import nnexp`` and a run
with ``tracker=none`` import. Fast tier: a tracker that breaks mid-run.
"""

from __future__ import annotations

import logging
import math
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nnexp
from nnexp.errors import ConfigError
from nnexp.export import main as export
from nnexp.results import RunStatus, RunSummary, read_summary
from nnexp.tracking.location import Location
from nnexp.tracking.opening import TrackedRun
from nnexp.tracking.params import run_params
from nnexp.training.spec import result_settings
from tests.conftest import ROOT, write_finished_run

tensorboardX = pytest.importorskip(
    "tensorboardX", reason="tracker=tensorboard needs the extra: pip install -e '.[tensorboard]'"
)
event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator", reason="TensorBoard's reader: pip install tensorboard"
)
mlflow_tracking = pytest.importorskip(
    "mlflow.tracking", reason="tracker=mlflow needs the extra: pip install -e '.[mlflow]'"
)
plugin_data_pb2 = pytest.importorskip("tensorboard.plugins.hparams.plugin_data_pb2")

GRID = {"hidden": [8, 16]}
SETTINGS = {"data": "digits", "epochs": 3, "save_model": True, "report.enabled": False}
TWO_WORKERS = {"hydra.launcher.n_jobs": 2}


def _runs(sweep_dir: Path) -> dict[str, tuple[dict, pd.DataFrame]]:
    """Each run of ``sweep_dir`` by its folder's name: its summary.json and metrics.csv."""
    runs = nnexp.load(sweep_dir)
    return {
        Path(run).name: (read_summary(sweep_dir / run / "summary.json"), pd.read_csv(sweep_dir / run / "metrics.csv"))
        for run in runs["run"]
    }


def _same(logged: list[tuple[int, float]], column: pd.Series, epochs: pd.Series, dtype: type) -> bool:
    """Whether ``logged`` (step, value) pairs are ``column`` by epoch, as ``dtype`` (NaN equal to NaN)."""
    steps, values = zip(*logged)
    return list(steps) == epochs.tolist() and np.array_equal(
        np.asarray(values, dtype), column.to_numpy(dtype), equal_nan=True
    )


def _hparam(value) -> object:
    kind = value.WhichOneof("kind")
    return {"number_value": value.number_value, "string_value": value.string_value, "bool_value": value.bool_value}[
        kind
    ]


def assert_in_tensorboard(log_dir: Path, sweep_dir: Path) -> None:
    """Every run of ``sweep_dir`` in ``log_dir``: its scalars by epoch are metrics.csv's, its HParams session has its
    settings, status and final metrics."""
    runs = _runs(sweep_dir)
    assert sorted(path.name for path in log_dir.iterdir()) == sorted(runs)
    for name, (summary, metrics) in runs.items():
        events = event_accumulator.EventAccumulator(str(log_dir / name), size_guidance={event_accumulator.SCALARS: 0})
        events.Reload()
        for column in metrics.columns.drop("epoch"):  # TensorBoard keeps float32
            logged = [(event.step, event.value) for event in events.Scalars(column)]
            assert _same(logged, metrics[column], metrics["epoch"], np.float32), (name, column)
        content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
        session = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
        hparams = {key: _hparam(value) for key, value in session.hparams.items()}
        expected = {**run_params(result_settings(summary["config"])), "status": "completed"}
        assert hparams == {
            key: float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
            for key, v in expected.items()
        }
        (final,) = events.Scalars("hparams/test_acc")
        assert (final.step, final.value) == (summary["kept_epoch"], np.float32(summary["test_acc"]))


def assert_in_mlflow(
    uri: str, experiment: str, sweep_dir: Path, artifacts: frozenset[str] = frozenset({"summary.json", "model.npz"})
) -> None:
    """Every run of ``sweep_dir`` once in the MLflow ``experiment``: its metrics by step are metrics.csv's, its params
    its settings, its status and tags, summary.json and model.npz among its artifacts."""
    client = mlflow_tracking.MlflowClient(tracking_uri=uri)
    runs = _runs(sweep_dir)
    logged = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert sorted(run.info.run_name for run in logged) == sorted(runs)
    for run in logged:
        summary, metrics = runs[run.info.run_name]
        for column in metrics.columns.drop("epoch"):
            history = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, column)]
            assert _same(sorted(history), metrics[column], metrics["epoch"], np.float64), (run.info.run_name, column)
        params = run_params(result_settings(summary["config"]))
        assert run.data.params == {key: str(value) for key, value in params.items()}
        assert run.info.status == "FINISHED"
        assert run.data.tags["nnexp.status"] == "completed"
        assert run.data.tags["nnexp.fingerprint"] == summary["fingerprint"]
        assert {a.path for a in client.list_artifacts(run.info.run_id)} == artifacts


@pytest.mark.slow  # a sweep starts git (its provenance)
def test_a_sweep_logs_every_run_to_tensorboard_as_it_trains(tmp_path, capsys) -> None:
    runs = nnexp.sweep(GRID, tracker="tensorboard", dir=tmp_path / "sweep", **SETTINGS)
    sweep_dir = runs.attrs["sweep_dir"]
    assert set(runs["status"]) == {"completed"} and "tracker" not in runs  # a setting that changes no result
    assert_in_tensorboard(sweep_dir / "tensorboard", sweep_dir)
    capsys.readouterr()
    assert export(["tensorboard", str(sweep_dir)]) == 0  # logged live already: nothing added
    assert capsys.readouterr().out.strip().endswith("2 logged before")
    assert len(list((sweep_dir / "tensorboard").rglob("events.out.tfevents.*"))) == 2 * 2  # scalars, HParams session


@pytest.mark.slow  # a sweep starts git (its provenance)
def test_a_sweep_logs_every_run_to_mlflow_as_it_trains(tmp_path, capsys) -> None:
    runs = nnexp.sweep(GRID, tracker="mlflow", dir=tmp_path / "sweep", **SETTINGS)
    sweep_dir = runs.attrs["sweep_dir"]
    uri = f"sqlite:///{sweep_dir.absolute() / 'mlflow' / 'mlflow.db'}"
    assert_in_mlflow(uri, "sweep", sweep_dir)
    assert len(nnexp.load(sweep_dir)) == 2  # MLflow's copies of summary.json are no runs of the sweep
    capsys.readouterr()
    assert export(["mlflow", str(sweep_dir)]) == 0
    assert capsys.readouterr().out.strip().endswith("2 logged before")
    assert_in_mlflow(uri, "sweep", sweep_dir)  # still once each


@pytest.mark.slow  # a sweep starts git (its provenance)
def test_every_run_of_a_pack_is_a_run_of_its_own(tmp_path) -> None:
    grid = {"lr": [0.1, 0.2, 0.5, 1.0]}  # on 2 workers: 2 packs of 2 (16 hidden units: narrow enough to pack)
    runs = nnexp.sweep(
        grid, batch_size="full", hidden=16, tracker="mlflow", dir=tmp_path / "pack", **SETTINGS, **TWO_WORKERS
    )
    sweep_dir = runs.attrs["sweep_dir"]
    assert all("trained in a pack of 2 runs" in (sweep_dir / run / "run.log").read_text() for run in runs["run"])
    assert_in_mlflow(f"sqlite:///{sweep_dir / 'mlflow' / 'mlflow.db'}", "pack", sweep_dir)


@pytest.mark.slow  # a sweep starts git (its provenance)
def test_a_finished_sweep_is_exported_once(tmp_path, capsys) -> None:
    runs = nnexp.sweep(GRID, dir=tmp_path / "sweep", **SETTINGS)
    sweep_dir = runs.attrs["sweep_dir"]
    assert not (sweep_dir / "tensorboard").exists() and not (sweep_dir / "mlflow").exists()
    capsys.readouterr()
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    for _ in range(2):  # the second time: nothing added
        assert export(["tensorboard", str(sweep_dir), "--dir", str(tmp_path / "tb")]) == 0
        assert export(["mlflow", str(sweep_dir), "--uri", uri, "--experiment", "digits"]) == 0
        assert_in_tensorboard(tmp_path / "tb", sweep_dir)
        assert_in_mlflow(uri, "digits", sweep_dir)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" runs")[0] for line in lines] == ["2", "2", "0", "0"]
    assert len(list((tmp_path / "tb").rglob("events.out.tfevents.*"))) == 2 * 2


def test_an_unreadable_summary_is_left_out_of_an_export_in_one_line(tmp_path, capsys) -> None:
    """The other runs are exported; the export says what it left out and exits 1 (not a success)."""
    sweep_dir = tmp_path / "sweep"
    config = {"hidden": 8, "seed": 0, "activation": "relu", "data": {"name": "digits"}}
    write_finished_run(sweep_dir / "good", config, [0.5, 0.6], [0.5, 0.6])
    write_finished_run(sweep_dir / "odd", config, [0.5, 0.6], [0.5, 0.6])
    (sweep_dir / "odd" / "summary.json").write_text('{"status": "weird", "fingerprint": "f00d"}')
    assert export(["tensorboard", str(sweep_dir), "--dir", str(tmp_path / "tb")]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("1 runs exported to tensorboard (") and out.endswith(
        ", 1 left out (summary.json unreadable)\n"
    )
    odd = sweep_dir / "odd" / "summary.json"
    assert err == f"warning: {odd} cannot be read (status 'weird' is not one of {', '.join(RunStatus)}): not exported\n"
    assert [folder.name for folder in (tmp_path / "tb").iterdir() if folder.is_dir()] == ["good"]


@pytest.mark.slow  # the sweep's workers start while it is planned
def test_a_bad_tracker_is_refused_before_any_run(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r": Could not find 'tracker/wandb'; allowed: mlflow, none, tensorboard$"):
        nnexp.sweep(GRID, tracker="wandb", dir=tmp_path / "a", **SETTINGS)
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(
        ConfigError, match=r"^tracker=tensorboard cannot log to tracker.dir=.*file/tb: Not a directory$"
    ):
        nnexp.sweep(GRID, tracker="tensorboard", **{"tracker.dir": not_a_folder / "tb"}, dir=tmp_path / "b", **SETTINGS)
    with pytest.raises(ConfigError, match=r"^tracker=mlflow cannot log to tracker.uri=nowhere://store: "):
        nnexp.sweep(GRID, tracker="mlflow", **{"tracker.uri": "nowhere://store"}, dir=tmp_path / "c", **SETTINGS)
    assert not list(tmp_path.rglob("summary.json"))  # no run started


def test_a_tracker_that_breaks_mid_run_is_a_warning_once(tmp_path, caplog) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    location = Location("mlflow", uri=uri, experiment="broken", artifacts=tmp_path / "artifacts")
    log = logging.getLogger("test_trackers")
    run = TrackedRun(location, "run", "f00d", {"lr": 0.1}, 1, log)
    run.epoch({"epoch": 1, "test_acc": 0.5})
    client = mlflow_tracking.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("broken").experiment_id
    client.delete_experiment(experiment)  # its runs can be logged to no more
    with caplog.at_level(logging.WARNING, logger="test_trackers"):
        run.epoch({"epoch": 2, "test_acc": 0.6})
        run.epoch({"epoch": 3, "test_acc": 0.7})
        run.end(RunSummary(status=RunStatus.completed, fingerprint="f00d"), tmp_path)
    (warning,) = [record for record in caplog.records if record.name == "test_trackers"]
    assert warning.getMessage().startswith("tracker=mlflow stopped logging this run (")
    assert warning.getMessage().endswith("the run goes on, its own files are whole")


BLOCKED = """
import sys
class Missing:  # {module} as if not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "{module}":
            raise ModuleNotFoundError(f"No module named {{name!r}}")
sys.meta_path.insert(0, Missing())
from nnexp.run import cli
cli()
"""


@pytest.mark.slow
@pytest.mark.parametrize(("tracker", "module"), [("tensorboard", "tensorboardX"), ("mlflow", "mlflow")])
def test_a_tracker_whose_library_is_missing_names_its_extra(tracker, module, tmp_path) -> None:
    code = BLOCKED.format(module=module)
    args = ["-m", "data=digits", "epochs=1", f"tracker={tracker}"]
    done = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: tracker={tracker} needs {module}, which is not installed: pip install 'nnexp[{tracker}]'"
        " (no run was started)"
    )
    assert not (tmp_path / "multirun").exists()  # checked before the sweep makes its folder


@pytest.mark.slow
def test_no_tracker_library_is_imported_unless_a_tracker_is_asked_for(tmp_path) -> None:
    code = (
        "import sys, nnexp, nnexp.run, nnexp.task, nnexp.export\n"
        "nnexp.train(data='digits', epochs=1, dir='run')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorboardX', 'tensorboard', 'mlflow', 'torch'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert math.isfinite(read_summary(tmp_path / "run" / "summary.json")["test_acc"])


@pytest.mark.slow
def test_the_readmes_tracker_commands_work(tmp_path) -> None:
    section = (ROOT / "README.md").read_text().split("## Trackers")[1].split("\n## ")[0]
    block = section.split("```\n")[1]
    commands = [line.split("   #")[0].strip() for line in block.splitlines() if line.startswith(("python", "nnexp"))]
    assert len(commands) == 3
    for command in commands:
        args = shlex.split(command)
        if args[0] == "python":  # the interpreter of this environment
            args[0] = sys.executable
        else:
            args = [sys.executable, "-m", "nnexp.export", *args[1:]]
        done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (command, done.stderr)
    first, second = (
        tmp_path / "multirun" / f"activation=relu,tanh,data=digits,{more}hidden=16,32" for more in ("", "epochs=10,")
    )
    assert_in_tensorboard(first / "tensorboard", first)
    for sweep_dir in (first, second):  # exported, logged live
        uri = f"sqlite:///{sweep_dir / 'mlflow' / 'mlflow.db'}"
        assert_in_mlflow(uri, sweep_dir.name, sweep_dir, artifacts={"summary.json"})
