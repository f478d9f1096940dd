"""One configuration, one folder, one result; one sweep folder, one plan (however many sweeps go into it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from nnexp.errors import ConfigError
from nnexp.report.build import build_report
from nnexp.report.runs import load_runs, varying
from nnexp.results.plan_file import read_plan
from nnexp.training import RunSpec, execute
from nnexp.training.spec import METRICS_DEFINITION
from tests.conftest import LAUNCHER_VERBOSE, make_idx_dataset, run_nnexp, settings_of

QUICK = ["data=digits", "epochs=1", "hidden=8", "hydra.launcher.n_jobs=1"]


def _finished_folders(sweep) -> list[str]:
    return sorted(p.parent.name for p in sweep.glob("*/summary.json"))


@pytest.mark.slow
def test_an_explicit_default_is_not_a_second_run(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    first = run_nnexp(["-m", *QUICK, "seed=0,1", f"hydra.sweep.dir={sweep}"], tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    again = run_nnexp(
        ["-m", *QUICK, "seed=0,1", "lr=0.1", "init=xavier", f"hydra.sweep.dir={sweep}", LAUNCHER_VERBOSE], tmp_path
    )
    output = again.stdout + again.stderr
    assert again.returncode == 0, output[-2000:]
    assert "2 finished already and are skipped" in output and "is launching" not in output  # nothing launched
    assert len(_finished_folders(sweep)) == 2  # no second folder for lr=0.1 (the default)
    report = build_report(sweep, tmp_path / "report").read_text()
    assert "2 runs of 2 planned" in report


@pytest.mark.slow
def test_spellings_and_copies_of_one_data_folder_are_one_configuration(tmp_path, compose_config) -> None:
    make_idx_dataset(tmp_path / "data" / "mnist")
    shutil.copytree(tmp_path / "data" / "mnist", tmp_path / "copy")

    def spec(root: str) -> RunSpec:
        return RunSpec.from_settings(settings_of(compose_config([f"data.root={root}", "hidden=8"])))

    spellings = [str(tmp_path / "data/mnist"), f"{tmp_path}/data/mnist/", f"{tmp_path}/data/../data/mnist/."]
    assert len({spec(root).fingerprint for root in [*spellings, str(tmp_path / "copy")]}) == 1
    sweep = tmp_path / "sweep"
    args = ["-m", "epochs=1", "hidden=8", "batch_size=16", f"hydra.sweep.dir={sweep}"]
    runs = run_nnexp([*args, f"data.root={','.join(spellings)}"], tmp_path)
    assert runs.returncode == 0, runs.stderr[-2000:]
    (folder,) = _finished_folders(sweep)  # one folder, named by the data folder and its content
    assert folder == f"batch_size=16,data.root=mnist-{spec(spellings[0]).data_identity.digest[:8]},epochs=1,hidden=8"
    # the files replaced under the same folder: another configuration, run again
    make_idx_dataset(tmp_path / "data" / "mnist", seed=1)
    assert spec(spellings[0]).fingerprint != spec(str(tmp_path / "copy")).fingerprint
    rerun = run_nnexp([*args, f"data.root={spellings[0]}"], tmp_path)
    assert rerun.returncode == 0 and "finished already" not in rerun.stdout + rerun.stderr
    renamed = folder.replace(
        spec(str(tmp_path / "copy")).data_identity.digest[:8], spec(spellings[0]).data_identity.digest[:8]
    )
    assert _finished_folders(sweep) == sorted([folder, renamed])  # the first data's run stays, beside the new one


def _files(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_other_data_under_the_same_path_is_another_run_and_never_overwrites_a_result(tmp_path) -> None:
    data, copy = tmp_path / "data", tmp_path / "copy"
    make_idx_dataset(data)
    shutil.copytree(data, copy)
    env = {"NNEXP_DATA_DIR": str(data), "NNEXP_CACHE_DIR": str(tmp_path / "cache")}
    command = ["-m", "epochs=1", "hidden=8", "batch_size=16", "seed=0,1", "hydra.launcher.n_jobs=1"]
    first = run_nnexp(command, tmp_path, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    (sweep,) = (tmp_path / "multirun").iterdir()
    before = {name: _files(sweep / name) for name in _finished_folders(sweep)}
    make_idx_dataset(data, seed=1)  # other files at the same path
    second = run_nnexp(command, tmp_path, env=env)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "finished already" not in second.stdout + second.stderr and "sweep done: 2 completed" in second.stdout
    assert {name: _files(sweep / name) for name in before} == before  # the first data's results, untouched
    assert len(_finished_folders(sweep)) == 4 and len(read_plan(sweep).runs) == 4
    runs = load_runs(sweep)  # the report tells the two data sets apart: never pooled as seeds of one setting
    assert runs["data.content"].nunique() == 2 and "data.content" in varying(runs)
    moved = run_nnexp(command, tmp_path, env={**env, "NNEXP_DATA_DIR": str(copy)})  # the first data, elsewhere
    assert moved.returncode == 0 and "2 finished already and are skipped" in moved.stderr, moved.stderr[-2000:]
    assert {name: _files(sweep / name) for name in before} == before


@pytest.mark.slow
def test_a_run_keeps_its_folder_when_the_array_cache_is_rebuilt(tmp_path) -> None:
    make_idx_dataset(tmp_path / "data")
    env = {"NNEXP_DATA_DIR": str(tmp_path / "data"), "NNEXP_CACHE_DIR": str(tmp_path / "cache")}
    command = ["-m", "epochs=1", "hidden=8", "batch_size=16", "seed=0", "hydra.launcher.n_jobs=1"]
    first = run_nnexp([*command, "hydra.sweep.dir=sweep"], tmp_path, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    (folder,) = _finished_folders(tmp_path / "sweep")
    arrays = sorted((tmp_path / "cache").rglob("*.npy"))
    with open(arrays[0], "r+b") as handle:  # a real byte edit of the cached arrays
        handle.seek(-1, 2)
        last = handle.read(1)
        handle.seek(-1, 2)
        handle.write(bytes([last[0] ^ 0xFF]))
    again = run_nnexp([*command, "lr=0.1", "hydra.sweep.dir=sweep"], tmp_path, env=env)  # a default spelled out
    output = again.stdout + again.stderr
    assert again.returncode == 0, output[-2000:]
    assert "array cache damaged" in output and "finished already" not in output  # trained on damaged arrays: again
    assert "sweep done: 1 completed" in output and "repeats the configuration" not in output
    assert _finished_folders(tmp_path / "sweep") == [folder]  # in its own folder, not a second one
    rerun = run_nnexp([*command, "hydra.sweep.dir=sweep"], tmp_path, env=env)
    assert rerun.returncode == 0 and "1 finished already and are skipped" in rerun.stderr, rerun.stderr[-2000:]


def test_a_report_is_out_of_date_when_a_published_table_it_reads_changes(tmp_path, monkeypatch) -> None:
    """A preset names its published tables as ``experiments/<file>``; run from another folder, the report reads the
    installed copy (nnexp.resources.published_table), and a change of that copy is a change of the report's inputs."""
    import nnexp.resources
    from nnexp.report.inputs import report_inputs

    shipped, elsewhere, sweep = tmp_path / "experiments", tmp_path / "elsewhere", tmp_path / "sweep"
    for folder in (shipped, elsewhere, sweep):
        folder.mkdir()
    (shipped / "table.csv").write_text("source,table,metric\n")
    monkeypatch.setattr(nnexp.resources, "PUBLISHED_DIR", shipped)
    monkeypatch.chdir(elsewhere)
    options = {"rows": "hidden", "cols": "activation", "metrics": ["test_acc"], "published": ["experiments/table.csv"]}
    before = report_inputs(sweep, tmp_path / "report", options)
    assert report_inputs(sweep, tmp_path / "report", options) == before
    (shipped / "table.csv").write_text("source,table,metric,protocol\n")
    assert report_inputs(sweep, tmp_path / "report", options) != before


@pytest.mark.slow
def test_a_rerun_that_adds_nothing_leaves_the_plan_and_the_report_as_they_are(tmp_path) -> None:
    command = ["-m", *QUICK, "seed=0,1"]
    first = run_nnexp(command, tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    (sweep,) = (tmp_path / "multirun").iterdir()
    plan, report = (sweep / "sweep_plan.json").read_bytes(), _files(sweep / "report")
    again = run_nnexp(command, tmp_path)
    assert again.returncode == 0 and "report: " in again.stdout and "(up to date)" in again.stdout
    assert (sweep / "sweep_plan.json").read_bytes() == plan and _files(sweep / "report") == report
    (sweep / _finished_folders(sweep)[0] / "metrics.csv").write_text("epoch\n")  # a damaged result: a changed input
    third = run_nnexp(command, tmp_path)
    assert third.returncode == 0 and "(up to date)" not in third.stdout, third.stderr[-2000:]
    assert "1 finished already" in third.stderr


@pytest.mark.slow
def test_a_second_grid_into_a_sweep_folder_extends_its_plan(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    first = run_nnexp(["-m", *QUICK, "seed=0,1", f"hydra.sweep.dir={sweep}"], tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    second = run_nnexp(["-m", *QUICK, "seed=1,2,3", f"hydra.sweep.dir={sweep}"], tmp_path)
    output = second.stdout + second.stderr
    assert second.returncode == 0, output[-2000:]
    assert "sweep of 3 runs" in output and "1 finished already" in output
    assert "run 3/3 completed" in output and "/2 " not in output.split("sweep of 3 runs")[1]
    plan = read_plan(sweep)
    assert len(plan.runs) == 4 and len(plan.sweeps) == 2 and plan.total == 3
    assert "sweep done: 3 completed (1 of them skipped as finished before)" in output
    report = build_report(sweep, tmp_path / "report").read_text()
    assert "4 runs of 4 planned" in report


@pytest.mark.slow
def test_two_grids_at_once_into_one_folder_each_count_their_runs_once(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    commands = [
        [sys.executable, "-m", "nnexp.run", "-m", *QUICK, f"seed={seeds}", f"hydra.sweep.dir={sweep}"]
        for seeds in ("0,1,2", "2,3")
    ]
    processes = [
        subprocess.Popen(c, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for c in commands
    ]
    outputs = [p.communicate(timeout=300)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert "sweep done: 3 completed" in outputs[0] and "sweep done: 2 completed" in outputs[1]  # each its own runs
    plan = read_plan(sweep)
    assert sorted(plan.runs) == _finished_folders(sweep) and len(plan.runs) == 4
    assert len(plan.sweeps) == 2


@pytest.mark.slow
def test_a_rebuilt_report_drops_the_files_of_its_earlier_build(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    done = run_nnexp(["-m", *QUICK, "lr=0.1,0.2", f"hydra.sweep.dir={sweep}", "report.enabled=false"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "report"
    build_report(sweep, out, rows="lr", cols="activation")
    assert list(out.glob("*_by_lr_activation*"))
    (out / "notes.txt").write_text("mine")  # a file the report did not write
    build_report(sweep, out, rows="hidden", cols="activation")
    assert not list(out.glob("*_by_lr_activation*")) and list(out.glob("*_by_hidden_activation*"))
    assert (out / "notes.txt").read_text() == "mine"
    listed = json.loads((out / ".report_files.json").read_text())
    assert "index.md" in listed and "notes.txt" not in listed


@pytest.mark.slow
@pytest.mark.parametrize("copies", [2])
def test_the_report_counts_a_repeated_configuration_once(tmp_path, copies) -> None:
    sweep = tmp_path / "sweep"
    done = run_nnexp(["-m", *QUICK, "seed=0", f"hydra.sweep.dir={sweep}", "report.enabled=false"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    (original,) = [p for p in sweep.iterdir() if p.is_dir()]
    for copy in range(copies):  # what a launcher that does not plan leaves: the same run in other folders
        shutil.copytree(original, sweep / f"copy{copy}")
    index = build_report(sweep, tmp_path / "report").read_text()
    assert "Runs: 1 runs" in index


@pytest.mark.slow
def test_two_sweeps_of_other_data_into_one_folder_at_once_never_take_each_others_result(tmp_path) -> None:
    """Two sweeps of one command on other data, started together into one folder: each merges its plan only into
    the plan it planned from (the second plans again when the first merged meanwhile), so each run gets a folder of
    its own, both sweeps exit 0 with their own result, whole, and no result is claimed twice."""
    for name, seed in (("a", 0), ("b", 1)):
        make_idx_dataset(tmp_path / name, n_train=600, seed=seed)
    command = [sys.executable, "-m", "nnexp.run", "-m", "epochs=30", "hidden=8", "batch_size=1", "hydra.sweep.dir=s"]
    command.append("hydra.launcher.n_jobs=1")
    processes = {
        name: subprocess.Popen(
            command,
            cwd=tmp_path,
            env={**os.environ, "NNEXP_DATA_DIR": str(tmp_path / name), "NNEXP_CACHE_DIR": str(tmp_path / "cache")},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in ("a", "b")
    }
    outputs = {name: p.communicate(timeout=300)[0] for name, p in processes.items()}
    assert all(process.returncode == 0 for process in processes.values()), outputs
    roots = [
        json.loads((tmp_path / "s" / folder / "summary.json").read_text())["config"]["data"]["root"]
        for folder in _finished_folders(tmp_path / "s")
    ]
    assert sorted(roots) == [str(tmp_path / "a"), str(tmp_path / "b")]


def test_runs_of_an_older_metrics_definition_are_never_pooled_nor_overwritten(compose_config, tmp_path, caplog) -> None:
    settings = settings_of(compose_config(["data=digits", "epochs=1", "hidden=8"]))
    sweep = tmp_path / "sweep"
    execute(settings, sweep / "new")
    summary = json.loads((sweep / "new" / "summary.json").read_text())
    assert summary["metrics_definition"] == METRICS_DEFINITION == 2
    # the same run as an nnexp of the first definition wrote it: no metrics_definition, another fingerprint
    shutil.copytree(sweep / "new", sweep / "old")
    old = {key: value for key, value in summary.items() if key != "metrics_definition"} | {"fingerprint": "0" * 16}
    (sweep / "old" / "summary.json").write_text(json.dumps(old))
    runs = load_runs(sweep)
    assert sorted(runs["metrics_definition"]) == [1, 2] and varying(runs) == ["metrics_definition"]
    assert "reported apart, never pooled" in caplog.text
    before = (sweep / "old" / "summary.json").read_bytes()
    with pytest.raises(ConfigError, match="of an older definition, 1, this nnexp's is 2"):
        execute(settings, sweep / "old")
    assert (sweep / "old" / "summary.json").read_bytes() == before
