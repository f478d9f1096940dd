"""Sweeps that survive failures, kills and bad input: isolation, resume, SIGKILL, validation, odd reports."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from nnexp.data.idx import IDX_FILES
from nnexp.errors import ConfigError
from nnexp.report.build import build_report
from nnexp.results import read_summary
from nnexp.results.plan_file import read_plan
from nnexp.sweep.naming import run_dir_name
from nnexp.training import RunSpec
from nnexp.training.spec import check_batch_fits
from tests.conftest import CONF_DIR, LAUNCHER_VERBOSE, digits_n_train, make_idx_dataset, run_nnexp, settings_of

SEEDS = 11
CASES = SEEDS + 2  # the seeds, a run on damaged data and one that diverges
PRESETS = sorted(path.stem for path in (CONF_DIR / "experiment").glob("*.yaml"))


def _write_cases(conf: Path, bad_root: Path) -> list[str]:
    """A config group of CASES cases: SEEDS healthy seeds, one run on damaged data, one that diverges."""
    (conf / "case").mkdir(parents=True)
    names = []
    for seed in range(SEEDS):
        names.append(f"ok{seed:02d}")
        (conf / "case" / f"{names[-1]}.yaml").write_text(f"# @package _global_\nseed: {seed}\n")
    (conf / "case" / "damaged.yaml").write_text(
        f"# @package _global_\ndata:\n  name: mnist\n  loader: idx\n  root: {bad_root}\n"
    )
    (conf / "case" / "explodes.yaml").write_text(
        "# @package _global_\nactivation: relu\nhidden: [32, 32, 32]\nlr: 1000000.0\n"
    )
    return [*names, "damaged", "explodes"]


@pytest.fixture(scope="module")
def failing_sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("failing")
    bad = root / "bad_data"
    make_idx_dataset(bad)
    images = bad / IDX_FILES["train_images"]
    images.write_bytes(images.read_bytes()[:-200])  # truncated download
    cases = _write_cases(root / "conf", bad)
    args = [
        "-m",
        f"+case={','.join(cases)}",
        "data=digits",
        "epochs=3",
        f"hydra.searchpath=[file://{root / 'conf'}]",
        "hydra.sweep.dir=multirun/s",
        "hydra.launcher.n_jobs=2",
        LAUNCHER_VERBOSE,  # the launcher says how many jobs it launches
    ]
    return root, args, run_nnexp(args, root)


@pytest.mark.slow
def test_one_failure_and_one_divergence_do_not_stop_the_sweep(failing_sweep) -> None:
    root, _, done = failing_sweep
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    sweep = root / "multirun/s"
    statuses = {p.parent.name: read_summary(p)["status"] for p in sweep.glob("*/summary.json")}
    assert len(statuses) == CASES
    assert sorted(statuses.values()).count("completed") == SEEDS
    assert statuses["+case=damaged,data=digits,epochs=3"] == "failed"
    assert statuses["+case=explodes,data=digits,epochs=3"] == "diverged"
    failed = sweep / "+case=damaged,data=digits,epochs=3"
    summary = read_summary(failed / "summary.json")
    assert summary["error"].endswith(
        "train-images-idx3-ubyte.gz: truncated gzip file (incomplete download?); delete it and download it again"
    )
    assert "Traceback" in (failed / "error.txt").read_text()
    assert "train-images-idx3-ubyte.gz" in (failed / "run.log").read_text()
    assert f"sweep done: {SEEDS} completed, 1 diverged, 1 failed" in output
    assert "1 runs failed; their error.txt says why: +case=damaged" in output


@pytest.mark.slow
def test_report_of_the_failing_sweep_shows_the_failed_run(failing_sweep) -> None:
    root, _, _ = failing_sweep
    index = (root / "multirun/s/report/index.md").read_text()
    assert f"{CASES} runs of {CASES} planned ({SEEDS} completed, 1 diverged, 1 failed)" in index
    assert "`+case=damaged,data=digits,epochs=3`: failed — " in index
    runs = pd.read_csv(root / "multirun/s/report/runs.csv")
    assert set(runs["status"]) == {"completed", "failed", "diverged"}


@pytest.mark.slow
def test_rerun_skips_finished_runs_and_retries_the_failed_one(failing_sweep) -> None:
    root, args, _ = failing_sweep
    sweep = root / "multirun/s"
    before = {p.parent.name: p.read_bytes() for p in sweep.glob("*/summary.json")}
    again = run_nnexp(args, root)
    output = again.stdout + again.stderr
    assert again.returncode == 1  # the data is still damaged
    assert f"sweep of {CASES} runs into multirun/s; {CASES - 1} finished already and are skipped" in output
    assert "skipped: finished already" not in output  # the launcher does not start them
    assert "is launching 1 jobs" in output
    after = {p.parent.name: p.read_bytes() for p in sweep.glob("*/summary.json")}
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"+case=damaged,data=digits,epochs=3"}  # retried; the others untouched
    good = root / "good_data"
    make_idx_dataset(good)
    shutil.copy(good / IDX_FILES["train_images"], root / "bad_data" / IDX_FILES["train_images"])
    fixed = run_nnexp(args, root)
    assert fixed.returncode == 0, (fixed.stdout + fixed.stderr)[-3000:]
    assert read_summary(sweep / "+case=damaged,data=digits,epochs=3/summary.json")["status"] == "completed"


@pytest.mark.slow
def test_force_reruns_everything(tmp_path) -> None:
    args = ["-m", "hidden=8,16", "data=digits", "epochs=1", "hydra.sweep.dir=multirun/f", "report.enabled=false"]
    assert run_nnexp(args, tmp_path).returncode == 0
    first = {p: p.read_bytes() for p in (tmp_path / "multirun/f").glob("*/summary.json")}
    forced = run_nnexp([*args, "force=true"], tmp_path)
    assert forced.returncode == 0 and "skipped" not in forced.stdout + forced.stderr
    assert all(path.read_bytes() != content for path, content in first.items())
    for path, content in first.items():  # each run started again after the first had ended (milliseconds)
        before, after = json.loads(content), json.loads(path.read_bytes())
        started, finished = datetime.fromisoformat(before["started"]), datetime.fromisoformat(before["finished"])
        assert started < finished <= datetime.fromisoformat(after["started"]), path.parent.name
    assert len(first) == 2


@pytest.mark.slow
def test_changed_configuration_is_not_counted_as_finished(tmp_path) -> None:
    args = ["-m", "hidden=8,16", "data=digits", "hydra.sweep.dir=multirun/c", "report.enabled=false"]
    assert run_nnexp([*args, "data.split_seed=0"], tmp_path).returncode == 0
    # split_seed is an override here, so it is part of the folder names: different folders
    changed = run_nnexp([*args, "data.split_seed=1"], tmp_path)
    assert "finished already" not in changed.stdout + changed.stderr
    seeds = {read_summary(p)["config"]["data"]["split_seed"] for p in (tmp_path / "multirun/c").rglob("summary.json")}
    assert len(seeds) == 2  # different overrides, different folders: both kept


@pytest.mark.slow
def test_a_changed_config_file_is_another_configuration_beside_the_first(tmp_path) -> None:
    """Same command, same folder names, but a config file changed in between: other runs, in folders of their own;
    the first runs' results stay."""
    (tmp_path / "conf" / "case").mkdir(parents=True)
    case = tmp_path / "conf" / "case" / "small.yaml"
    args = [
        "-m",
        "+case=small",
        "hidden=8,16",
        "data=digits",
        f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
        "hydra.sweep.dir=multirun/f",
        "report.enabled=false",
    ]
    case.write_text("# @package _global_\nepochs: 1\n")
    assert run_nnexp(args, tmp_path).returncode == 0
    sweep = tmp_path / "multirun/f"
    folders = sorted(p.parent.name for p in sweep.glob("*/summary.json"))
    first = {folder: (sweep / folder / "summary.json").read_bytes() for folder in folders}
    case.write_text("# @package _global_\nepochs: 2\n")  # the folders' names cannot see this
    changed = run_nnexp(args, tmp_path)
    output = changed.stdout + changed.stderr
    assert changed.returncode == 0 and "finished already" not in output
    assert {folder: (sweep / folder / "summary.json").read_bytes() for folder in folders} == first
    new = sorted(set(p.parent.name for p in sweep.glob("*/summary.json")) - set(folders))
    assert [name.partition("@")[0] for name in new] == folders  # the same names, each with its fingerprint
    for folder in new:
        summary = read_summary(sweep / folder / "summary.json")
        assert summary["epochs_completed"] == 2 and folder.endswith(f"@{summary['fingerprint'][:8]}")
    again = run_nnexp(args, tmp_path)  # unchanged now: both runs are skipped, said in one line, not one per run
    output = again.stdout + again.stderr
    assert "sweep of 2 runs into multirun/f; 2 finished already and are skipped" in output
    assert output.count("finished already") == 1 and not re.search(r"run \d/2 ", output)
    assert "sweep done: 2 completed (2 of them skipped as finished before)" in output


@pytest.mark.slow
def test_bad_value_in_a_sweep_list_stops_the_sweep_before_any_run(tmp_path) -> None:
    done = run_nnexp(["-m", "hidden=8,0,16", "data=digits", "hydra.sweep.dir=multirun/bad"], tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 2
    assert "error: in the run hidden=0 data=digits: hidden=0 is invalid; allowed: a positive int" in output
    assert not list((tmp_path / "multirun/bad").glob("*/metrics.csv"))
    assert "Traceback" not in output


@pytest.mark.slow
@pytest.mark.parametrize(
    "varied, message",
    [
        (
            "activation=relu,softplus",
            "in the run activation=softplus data=digits: activation: Invalid value 'softplus', expected one of"
            " [gelu, leaky_relu, relu, sigmoid, silu, tanh]",
        ),
        (
            "lr=0.1,fast",
            "in the run lr=fast data=digits: lr: Value 'fast' of type 'str' could not be converted to Float",
        ),
        (
            "data.split_seedd=1,2",
            "in the run data.split_seedd=1 data=digits: data.split_seedd is not a setting; did you mean"
            " data.split_seed",
        ),
        (
            "+experiment=w000_tables,nope",
            f"in the run +experiment=nope data=digits: Could not find 'experiment/nope'; allowed: {', '.join(PRESETS)}",
        ),
    ],
)
def test_a_sweep_value_hydra_cannot_compose_is_one_line_before_any_run(tmp_path, varied, message) -> None:
    done = run_nnexp(["-m", varied, "data=digits", "hydra.sweep.dir=multirun/bad"], tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-2000:]
    assert f"error: {message}" in output
    assert "Warning" not in output and "Traceback" not in output  # not Hydra's warning about a failed callback
    assert not list((tmp_path / "multirun/bad").glob("*/metrics.csv"))


@pytest.mark.slow
def test_batch_larger_than_the_training_set_is_refused_before_loading(tmp_path, compose_config) -> None:
    n_train = digits_n_train(compose_config(["data=digits"]).data.val_size)  # 1,222
    done = run_nnexp(["data=digits", "batch_size=5000", "hydra.run.dir=out"], tmp_path)
    assert done.returncode == 2
    assert (
        f"error: batch_size=5000 is larger than the training set ({n_train} images after the validation split,"
        f" data.val_size=0.15); allowed: 1 to {n_train}, or 'full'" in done.stdout + done.stderr
    )


def test_the_batch_check_after_loading_names_the_cap_too(compose_config) -> None:
    """The run checks once the data is loaded when its size was unknown before (a download)."""

    def spec(limit: int, batch_size: int | None) -> RunSpec:
        checked = RunSpec.from_settings(
            settings_of(compose_config(["data=digits", f"data.train_limit={limit}", "batch_size=full"]))
        )
        return dataclasses.replace(checked, batch_size=batch_size)

    with pytest.raises(ConfigError, match=r"\(10 images with data.train_limit=10\); allowed: 1 to 10"):
        check_batch_fits(spec(10, 64), 10)
    with pytest.raises(ConfigError, match=r"\(10 images after the validation split, data.val_size=0.15\)"):
        check_batch_fits(spec(500, 64), 10)
    check_batch_fits(spec(10, None), 10)  # full batch fits any set


def test_a_training_set_capped_below_the_batch_names_the_cap(compose_config) -> None:
    """Found by hypothesis: data.train_limit=1 with the digits default batch of 16 must name data.train_limit."""
    with pytest.raises(
        ConfigError,
        match=r"batch_size=16 is larger than the training set \(1 images with "
        r"data.train_limit=1\); allowed: 1 to 1, or 'full'",
    ):
        RunSpec.from_settings(settings_of(compose_config(["data=digits", "data.train_limit=1"])))


def test_run_folder_names_are_one_per_configuration() -> None:
    assert run_dir_name("activation=relu,hidden=32") == "activation=relu,hidden=32"
    assert run_dir_name("") == "defaults"
    assert "/" not in run_dir_name("data.root=/a/b")
    assert run_dir_name("data.root=/a/b") != run_dir_name("data.root=_a_b")
    long_a, long_b = "x=" + "1" * 300, "x=" + "1" * 299 + "2"
    assert len(run_dir_name(long_a)) <= 200 and run_dir_name(long_a) != run_dir_name(long_b)


def _write_runs_with_problems(sweep: Path) -> None:
    for name, content in {
        "good": None,
        "bad_summary": '{"status": "compl',
        "bad_csv": None,
    }.items():
        run = sweep / name
        run.mkdir(parents=True)
        metrics = "epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,epoch_seconds,eval_seconds\n"
        metrics += "1,0.5,0.8,0.6,0.7,0.6,0.7,0.1,0.01\n"
        (run / "metrics.csv").write_text(metrics if name != "bad_csv" else "\x00garbage,,\n1,2\n\xff")
        summary = {
            "status": "completed",
            "epochs_completed": 1,
            "test_acc": 0.7,
            "val_acc": 0.7,
            "train_seconds": 0.1,
            "config": {"activation": "relu", "hidden": 8, "seed": 0},
        }
        (run / "summary.json").write_text(content if content is not None else json.dumps(summary))
    (sweep / "sweep_plan.json").write_text(
        json.dumps(
            {
                "total": 4,
                "jobs": [
                    {"dir": d, "overrides": [], "finished_before": False}
                    for d in ("good", "bad_summary", "bad_csv", "never_started")
                ],
            }
        )
    )


def test_report_says_what_it_skipped(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    _write_runs_with_problems(sweep)
    index = build_report(sweep, tmp_path / "report").read_text()
    assert "4 runs of 4 planned" in index
    assert "`bad_summary`: unreadable — summary.json is not valid JSON" in index
    assert "`never_started`: missing" in index
    assert "`bad_csv`: damaged — metrics.csv does not hold the epochs its summary records (1..1)" in index
    table = pd.read_csv(tmp_path / "report" / "test_acc_by_hidden_activation.csv", index_col="hidden")
    assert table.loc[8, "relu"] == pytest.approx(70.0)


@pytest.mark.slow
def test_killed_sweep_resumes_with_only_the_missing_runs(tmp_path) -> None:
    data = tmp_path / "data"
    make_idx_dataset(data, n_train=6000, n_test=500)
    args = [
        "-m",
        "seed=0,1,2,3,4,5,6,7",
        f"data.root={data}",
        "epochs=25",
        "hidden=64",
        "data.val_size=0.05",
        "hydra.sweep.dir=multirun/k",
        "hydra.launcher.n_jobs=2",
        LAUNCHER_VERBOSE,  # the launcher says how many jobs it launches
    ]
    sweep = tmp_path / "multirun/k"
    process = subprocess.Popen(
        [sys.executable, "-m", "nnexp.run", *args],
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while len(list(sweep.glob("*/summary.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    complete = {p.parent.name: p.read_bytes() for p in sweep.glob("*/summary.json")}
    assert 2 <= len(complete) < 8, "the sweep must be killed in the middle"
    for run in sweep.iterdir():
        if run.is_dir() and run.name not in complete:  # unfinished: no summary, readable metrics so far
            assert not (run / "summary.json").exists()
            if (run / "metrics.csv").exists():
                pd.read_csv(run / "metrics.csv")
    index = build_report(sweep, tmp_path / "partial").read_text()
    assert "8 planned" in index and f"{len(complete)} completed" in index
    assert read_plan(sweep).total == 8

    resumed = run_nnexp(args, tmp_path)
    output = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, output[-3000:]
    assert f"{len(complete)} finished already and are skipped" in output
    assert "skipped: finished already" not in output  # the launcher does not start them: one line says it
    assert f"is launching {8 - len(complete)} jobs" in output
    finals = {p.parent.name: p.read_bytes() for p in sweep.glob("*/summary.json")}
    assert len(finals) == 8
    assert all(finals[name] == content for name, content in complete.items())


def test_fingerprint_ignores_execution_settings_only(compose_config) -> None:
    def fingerprint(cfg) -> str:
        return RunSpec.from_settings(settings_of(cfg)).fingerprint

    base = fingerprint(compose_config(["data=digits"]))
    same = ["blas_threads=2", "force=true", "report.dir=elsewhere", "data.cache_arrays=false", "data.cache_dir=/tmp/x"]
    for override in same:
        assert fingerprint(compose_config(["data=digits", override])) == base, override
    for override in ["lr=0.2", "seed=1", "data.split_seed=3", "diagnostics=false", "save_model=true"]:
        assert fingerprint(compose_config(["data=digits", override])) != base, override


@pytest.mark.slow
def test_two_processes_running_one_configuration_share_one_result(tmp_path) -> None:
    command = [sys.executable, "-m", "nnexp.run", "data=digits", "epochs=30", "hydra.run.dir=outputs/same"]
    processes = [
        subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=300)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert sum("skipped: finished already" in output for output in outputs) == 1  # the second waited, then reused
    assert len(pd.read_csv(tmp_path / "outputs/same/metrics.csv")) == 30
    assert read_summary(tmp_path / "outputs/same/summary.json")["status"] == "completed"


@pytest.mark.slow
def test_a_report_that_cannot_be_written_fails_the_sweep_in_one_line(tmp_path) -> None:
    """Hydra turns an exception of a callback into a warning; the sweep must still exit non-zero."""
    (tmp_path / "blocker").write_text("a file where the report folder should go")
    args = ["-m", "hidden=8,16", "data=digits", "epochs=1", "hydra.sweep.dir=multirun/r", "report.dir=blocker"]
    done = run_nnexp(args, tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    errors = [line for line in output.splitlines() if "error: report not built:" in line]
    assert len(errors) == 1 and "python -m nnexp.report multirun/r" in errors[0]
    statuses = {read_summary(p)["status"] for p in (tmp_path / "multirun/r").glob("*/summary.json")}
    assert statuses == {"completed"}  # the results stay


@pytest.mark.parametrize("content", ["[]", "null", "3", '"completed"'])
def test_a_summary_that_is_not_an_object_is_rerun_and_reported_unreadable(tmp_path, content) -> None:
    from nnexp.report.runs import load_runs
    from nnexp.results.files import finished_summary

    run = tmp_path / "sweep" / "hidden=8"
    run.mkdir(parents=True)
    (run / "summary.json").write_text(content)
    assert finished_summary(run, "any fingerprint") is None  # not finished: a rerun trains it again
    runs = load_runs(tmp_path / "sweep")
    assert list(runs["status"]) == ["unreadable"] and "is not a summary" in runs["error"].iloc[0]
