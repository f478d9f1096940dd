"""The main-job benchmark: its scikit-learn reference app trains what nnexp's main job trains, on nnexp's split, and
runs on Hydra's joblib launcher; the benchmark takes turns and its table's arithmetic (no timing assertions)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from nnexp.bench import main_job
from nnexp.bench.reference_app import app
from nnexp.command_line import COMPOSE_OPTIONS
from nnexp.data import DataConfig, load_dataset
from tests.conftest import digits_n_train

APP_DIR = Path(app.__file__).parent
DIGITS = ["data.name=digits", "data.loader=digits", "data.root=null", "data.val_size=0.15"]


@pytest.fixture
def compose_reference():
    """Compose the reference app's config with the given overrides."""

    def _compose(overrides: list[str] = ()):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(APP_DIR), **COMPOSE_OPTIONS):
            return compose("config", overrides=list(overrides))

    yield _compose
    GlobalHydra.instance().clear()


def test_the_reference_trains_nnexps_default_network_with_plain_sgd(compose_config, compose_reference) -> None:
    ours, reference = compose_config(), compose_reference(["data.root=x"])
    for key in ("hidden", "lr", "batch_size", "epochs", "seed", "data.name", "data.val_size", "data.split_seed"):
        assert OmegaConf.select(reference, key) == OmegaConf.select(ours, key), key
    assert (ours.optimizer.name.value, ours.lr_schedule.name.value) == ("sgd", "constant")
    assert ours.weight_decay == 0 and ours.early_stopping.patience == 0 and ours.data.train_limit is None
    params = app.classifier(reference).get_params()
    assert (params["solver"], params["learning_rate"], params["momentum"], params["alpha"]) == ("sgd", "constant", 0, 0)
    assert params["hidden_layer_sizes"] == (128,) and params["batch_size"] == 64 and params["max_iter"] == 10
    assert params["shuffle"] and not params["early_stopping"] and params["random_state"] == 0


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 3 epochs: as asked
def test_a_reference_run_trains_every_epoch_on_nnexps_training_split(compose_reference, tmp_path) -> None:
    cfg = compose_reference([*DIGITS, "epochs=3", "hidden=16", "activation=relu"])
    splits = load_dataset(DataConfig(**cfg.data))
    assert len(splits.y_train) == digits_n_train(0.15)
    model = app.classifier(cfg).fit(splits.x_train, splits.y_train)
    assert model.n_iter_ == 3 and model.t_ == 3 * len(splits.y_train)  # no early stop: every epoch, every image
    accuracy = app.train(cfg, tmp_path)
    assert float((tmp_path / app.RESULT_FILE).read_text()) == accuracy == model.score(splits.x_test, splits.y_test)


@pytest.mark.slow
def test_the_reference_app_sweeps_on_the_joblib_launcher(idx_dataset, tmp_path) -> None:
    root, _ = idx_dataset
    sweep_dir = tmp_path / "sweep"
    command = [sys.executable, "-m", "nnexp.bench.reference_app", "-m", "activation=logistic,relu", "hidden=8"]
    args = [f"data.root={root}", "epochs=2", f"hydra.sweep.dir={sweep_dir}"]
    done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    launcher = OmegaConf.load(sweep_dir / "multirun.yaml").hydra.launcher
    assert launcher._target_.endswith("JoblibLauncher") and launcher.n_jobs == -1
    accuracies = [float((sweep_dir / str(n) / app.RESULT_FILE).read_text()) for n in range(2)]
    assert all(0 < accuracy <= 1 for accuracy in accuracies), accuracies


def _times(nnexp: list[float], reference: list[float]) -> pd.DataFrame:
    rows = [
        {"command": name, "repeat": repeat, "wall_s": seconds, "cpu_s": cpu * seconds, "runs": 12}
        | {"mean_test_acc": acc, "load_1min": 0.5}
        for name, walls, acc, cpu in ((main_job.NNEXP, nnexp, 0.96, 2), (main_job.REFERENCE, reference, 0.955, 1.5))
        for repeat, seconds in enumerate(walls)
    ]
    return pd.DataFrame(rows, columns=main_job.COLUMNS)


def test_the_table_gives_medians_ranges_and_the_ratio_of_medians() -> None:
    times = _times([10.0, 12.0, 11.0], [16.0, 18.0, 30.0])
    table = main_job.table(times)
    assert list(table.index) == [main_job.NNEXP, main_job.REFERENCE]
    assert table.loc[main_job.NNEXP].tolist() == ["10.0, 12.0, 11.0", 11.0, "10.0-12.0", 1.0, 22.0, "96.00%"]
    assert table.loc[main_job.REFERENCE].tolist() == ["16.0, 18.0, 30.0", 18.0, "16.0-30.0", 1.64, 27.0, "95.50%"]
    assert main_job.repeat_ratios(times).tolist() == pytest.approx([1.6, 1.5, 30 / 11])
    text = main_job.summary(times, Path("../shared/data/mnist"))
    assert "**1.64x**" in text and "1.50-2.73x" in text and ": met." in text and "takes 1.23x nnexp's" in text
    assert "`python -m nnexp.run -m activation=sigmoid,relu,tanh hidden=32,64,128,256 data.root=../shared" in text
    assert ": missed." in main_job.summary(_times([10.0], [14.9]), Path("mnist"))
    assert "under load" not in text
    busy = _times([10.0, 12.0], [16.0, 18.0]).assign(load_1min=[0.5, os.cpu_count() + 1, 0.5, 0.5])
    assert "before 1 of the 4 commands the load average exceeded" in main_job.summary(busy, Path("mnist"))


def test_the_commands_take_turns_after_one_warm_up_each(monkeypatch, tmp_path) -> None:
    calls = []

    def fake(name: str, seconds: float):
        def timed(folder: Path, mnist_root: Path, warmup: bool) -> tuple[float, list[float]]:
            calls.append((name, warmup))
            return seconds, [0.9, 1.0]

        return timed

    fakes = {main_job.NNEXP: fake(main_job.NNEXP, 2.0), main_job.REFERENCE: fake(main_job.REFERENCE, 3.0)}
    monkeypatch.setattr(main_job, "COMMANDS", fakes)
    clock = iter(range(0, 100, 5))  # CPU seconds: each command's 5
    monkeypatch.setattr(main_job, "children_cpu", lambda: next(clock))
    times = main_job.main(["--repeat", "3", "--out", str(tmp_path), "--mnist-root", str(tmp_path)])
    n, r = main_job.NNEXP, main_job.REFERENCE
    assert calls == [(n, True), (r, True), (n, False), (r, False), (r, False), (n, False), (n, False), (r, False)]
    written = pd.read_csv(tmp_path / "main_job.csv")
    assert list(written.columns) == main_job.COLUMNS and len(written) == 6 and (written["cpu_s"] == 5).all()
    assert written["mean_test_acc"].tolist() == pytest.approx([0.95] * 6) and (written["runs"] == 2).all()
    assert written["wall_s"].tolist() == times["wall_s"].tolist() == [2.0, 3.0, 3.0, 2.0, 2.0, 3.0]
    assert "**1.50x**" in (tmp_path / "main_job.md").read_text()


def test_the_benchmark_rejects_no_repeats_and_a_missing_data_folder(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):
        main_job.parse_args(["--repeat", "0", "--mnist-root", str(tmp_path)])
    with pytest.raises(SystemExit):
        main_job.parse_args(["--mnist-root", str(tmp_path / "absent")])
    assert "is not a folder" in capsys.readouterr().err
