"""The launcher: runs start longest first by the plan's estimates; its workers start early and draw the report."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest
from hydra_plugins.hydra_joblib_launcher.config import JobLibLauncherConf
from hydra_plugins.nnexp_launcher import OrderedJoblibLauncherConf
from hydra_plugins.nnexp_launcher.ordered_joblib import launch_order, parallel_settings, start_workers
from hypothesis import given
from hypothesis import strategies as st
from joblib import Parallel, delayed
from omegaconf import OmegaConf

from nnexp.results.plan_file import PlannedJob
from nnexp.sweep.callback import RUN_MODULES, idle_before_report, worker_settings


def test_runs_start_longest_first_and_equal_ones_in_the_grid_order() -> None:
    assert launch_order([1.0, 4.0, 2.0, 4.0]) == [1, 3, 2, 0]


def test_the_grid_order_stays_without_an_estimate_for_every_job() -> None:
    assert launch_order([1.0, 4.0, None, 2.0]) == [0, 1, 2, 3]  # data not downloaded yet, or a job not planned


@given(st.lists(st.floats(min_value=0, max_value=1e12), min_size=1, max_size=30))
def test_the_order_is_every_job_once_by_decreasing_work(work) -> None:
    order = launch_order(work)
    assert sorted(order) == list(range(len(work)))
    assert all(work[a] > work[b] or (work[a] == work[b] and a < b) for a, b in itertools.pairwise(order))


def _imported(module: str) -> bool:
    return module in sys.modules


@pytest.mark.slow
def test_started_workers_have_the_run_code_loaded_and_serve_the_next_parallel_call() -> None:
    settings = parallel_settings(
        {
            "_target_": "x",
            "order": "given",
            "n_jobs": 2,
            "pre_dispatch": "2*n_jobs",
            "batch_size": "auto",
            "max_nbytes": None,
            "mmap_mode": "r",
        }
    )
    assert "order" not in settings and "_target_" not in settings and settings["backend"] == "loky"
    starting = start_workers(settings, RUN_MODULES)
    assert starting is not None
    list(starting)
    # the launcher's Parallel call runs on those processes: the run code is already imported there
    assert all(Parallel(**settings)(delayed(_imported)("nnexp.task") for _ in range(8)))


def test_one_job_starts_no_workers() -> None:
    assert start_workers(parallel_settings({"n_jobs": 1}), RUN_MODULES) is None


def test_the_report_draws_on_the_workers_of_joblib_launchers_only() -> None:
    ours = OmegaConf.structured(OrderedJoblibLauncherConf(n_jobs=2))
    assert (
        worker_settings(ours) == parallel_settings(OmegaConf.to_container(ours))
        and worker_settings(ours)["n_jobs"] == 2
    )
    assert worker_settings(OmegaConf.create({"_target_": JobLibLauncherConf._target_, "n_jobs": 3}))["n_jobs"] == 3
    assert (
        worker_settings(OmegaConf.create({"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}))
        is None
    )
    assert (
        worker_settings(OmegaConf.structured(OrderedJoblibLauncherConf(n_jobs=1))) is None
    )  # jobs run in this process


def test_a_worker_prepares_the_report_when_every_run_has_started_and_others_still_run(tmp_path) -> None:
    plan = [PlannedJob((f"hidden={h}",), f"hidden={h}") for h in (8, 16, 32)]
    for started in ("hidden=8", "hidden=16"):
        (tmp_path / started / ".hydra").mkdir(parents=True)
    assert not idle_before_report(tmp_path, plan, finished=1)  # hidden=32 waits to start: this worker runs it
    (tmp_path / "hidden=32" / ".hydra").mkdir(parents=True)
    assert idle_before_report(tmp_path, plan, finished=2)
    assert not idle_before_report(tmp_path, plan, finished=3)  # the last run: the report starts now


def _modules_after_importing(*modules: str) -> set[str]:
    code = f"import sys; import {', '.join(modules)}; print(' '.join(sys.modules))"
    return set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())


@pytest.mark.slow
def test_run_workers_load_no_report_code_and_the_sweeps_process_no_matplotlib() -> None:
    assert RUN_MODULES == ["nnexp.task", "nnexp.sweep.callback"]
    worker = _modules_after_importing(*RUN_MODULES)  # what a worker needs before its first run
    assert "nnexp.training.loop" in worker and "pandas" not in worker and "matplotlib" not in worker
    # the sweep's process: the report's code (imported while the runs run) without its figures
    sweep = _modules_after_importing("nnexp.run", *RUN_MODULES, "nnexp.report.build")
    assert "pandas" in sweep and "matplotlib" not in sweep
    # the command line alone (--help, a bad value): neither the trainer nor the launcher's joblib
    cli = _modules_after_importing("nnexp.run")
    assert not {"nnexp.training", "joblib", "pandas", "matplotlib"} & cli
