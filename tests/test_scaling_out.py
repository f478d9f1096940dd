"""Other launchers and sweepers: submitit (a subprocess per run) and an Optuna search, same results layout."""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest

from nnexp.results import read_summary
from tests.conftest import run_nnexp

pytestmark = pytest.mark.slow  # every test here runs a sweep in a subprocess

needs_submitit = pytest.mark.skipif(
    importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None,
    reason="the slurm extra (hydra-submitit-launcher) is not installed",
)
needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is None,
    reason="the ray extra is not installed (it needs an environment of its own)",
)
needs_optuna = pytest.mark.skipif(
    importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is None,
    reason="the search extra (hydra-optuna-sweeper) is not installed",
)


@needs_submitit
def test_submitit_local_sweep_has_the_same_layout_and_pins_blas_to_cpus_per_task(tmp_path) -> None:
    done = run_nnexp(
        [
            "-m",
            "hydra/launcher=submitit_local",
            "hydra.launcher.cpus_per_task=2",
            "activation=sigmoid,relu",
            "data=digits",
            "epochs=2",
            "hydra.sweep.dir=multirun/sub",
        ],
        tmp_path,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    for activation in ("sigmoid", "relu"):
        run = tmp_path / f"multirun/sub/activation={activation},data=digits,epochs=2"
        assert read_summary(run / "summary.json")["status"] == "completed"
        assert len(pd.read_csv(run / "metrics.csv")) == 2
        assert "BLAS threads: 2" in (run / "run.log").read_text()
    assert (tmp_path / "multirun/sub/report/test_acc_by_hidden_activation.csv").exists()


def _study_states(root, name="nnexp_digits"):
    import optuna

    study = optuna.load_study(study_name=name, storage=f"sqlite:///{root / 'multirun/search_digits/optuna.db'}")
    return [trial.state.name for trial in study.trials]


@needs_optuna
def test_optuna_search_is_persistent_and_resumes(tmp_path) -> None:
    args = ["-m", "+hparams_search=optuna", "data=digits", "epochs=2", "hydra.sweeper.n_trials=4"]
    first = run_nnexp(args, tmp_path)
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    assert _study_states(tmp_path) == ["COMPLETE"] * 4
    again = run_nnexp(args, tmp_path)
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert len(_study_states(tmp_path)) == 8
    runs = pd.read_csv(tmp_path / "multirun/search_digits/report/runs.csv")
    assert len(runs) >= 6 and set(runs["preset"]) == {"optuna_search"}  # new trials, new run folders
    index = (tmp_path / "multirun/search_digits/report/index.md").read_text()
    assert "## Search" in index and (tmp_path / "multirun/search_digits/report/search_history.png").exists()


@needs_optuna
def test_diverged_trials_are_failed_trials_not_a_crash(tmp_path) -> None:
    # the search space from the command line: a deep ReLU net diverges at lr 1e6, learns at 0.1
    done = run_nnexp(
        [
            "-m",
            "+hparams_search=optuna",
            "data=digits",
            "epochs=3",
            "activation=relu",
            "hidden=[32,32,32]",
            "batch_size=64",
            "lr=choice(0.1,1000000.0)",
            "hydra.sweeper.n_trials=6",
            "hydra.sweeper.max_failure_rate=1.0",
            "hydra.sweeper.sampler.seed=0",
        ],
        tmp_path,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    states = _study_states(tmp_path)
    assert len(states) == 6 and "FAIL" in states and "COMPLETE" in states, states
    statuses = {read_summary(p)["status"] for p in (tmp_path / "multirun/search_digits").glob("*/summary.json")}
    assert statuses == {"diverged", "completed"}


@needs_ray
def test_ray_local_sweep_has_the_same_layout(tmp_path) -> None:
    done = run_nnexp(
        [
            "-m",
            "hydra/launcher=ray_local",
            "hydra.launcher.ray.init.num_cpus=2",
            "activation=sigmoid,relu",
            "data=digits",
            "epochs=2",
            "hydra.sweep.dir=multirun/ray",
        ],
        tmp_path,
        env={"RAY_USAGE_STATS_ENABLED": "0"},
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "'include_dashboard': False" in done.stdout + done.stderr
    for activation in ("sigmoid", "relu"):
        run = tmp_path / f"multirun/ray/activation={activation},data=digits,epochs=2"
        assert read_summary(run / "summary.json")["status"] == "completed"
        assert len(pd.read_csv(run / "metrics.csv")) == 2
    assert (tmp_path / "multirun/ray/report/index.html").exists()
