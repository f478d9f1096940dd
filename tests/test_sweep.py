"""A real sweep end to end: `python -m nnexp.run -m ...` on digits, joblib launcher, report from disk."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from omegaconf import OmegaConf

from nnexp.report.__main__ import main as report_main
from nnexp.results import read_summary
from nnexp.results.plan_file import read_plan
from tests.conftest import SHARED_RUNS, run_nnexp

# The sweep itself (activation=sigmoid,relu hidden=8,16 lr=0.05,0.5 seed=0,1 on digits, 3 epochs, 2 joblib workers)
# is conftest's session-wide ``shared_sweep``, which test_html_report.py reads as well.


@pytest.mark.slow
def test_sweep_runs_every_configuration_through_joblib(shared_sweep) -> None:
    done, output = shared_sweep.done, shared_sweep.output
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in output and f"is launching {SHARED_RUNS} jobs" in output
    assert f"sweep of {SHARED_RUNS} runs" in output
    assert re.search(rf"run {SHARED_RUNS}/{SHARED_RUNS} completed: ", output)  # one line per run that ended
    assert len(re.findall(rf"run \d+/{SHARED_RUNS} completed: ", output)) == SHARED_RUNS
    assert "epoch 1/3" not in output  # per-epoch lines go to each run's log file only (verbose=false)
    assert done.stdout.strip().splitlines()[-1].endswith("report: multirun/grid/report/index.html (index.md beside it)")
    runs = sorted(shared_sweep.sweep_dir.glob("*/summary.json"))
    assert len(runs) == SHARED_RUNS
    names = {p.parent.name for p in runs}
    assert "activation=relu,data=digits,epochs=3,hidden=16,lr=0.5,seed=1" in names
    for summary_path in runs:
        metrics = pd.read_csv(summary_path.parent / "metrics.csv")
        assert list(metrics["epoch"]) == [1, 2, 3]
        log = (summary_path.parent / "run.log").read_text()
        assert log.count("epoch ") >= 3 and "completed after 3 epochs" in log


@pytest.mark.slow
def test_runs_start_longest_first_and_keep_their_grid_numbers(shared_sweep) -> None:
    plan = read_plan(shared_sweep.sweep_dir)
    started = [int(n) for n in re.findall(r"\t#(\d+) : ", shared_sweep.output)]
    works = [job.work for job in plan.jobs]
    assert started == sorted(range(SHARED_RUNS), key=lambda i: -works[i])
    larger_first = started[: SHARED_RUNS // 2]
    assert all("hidden=16" in plan.jobs[i].overrides for i in larger_first)  # the larger networks first
    for number, job in enumerate(plan.jobs):
        hydra_config = OmegaConf.load(shared_sweep.sweep_dir / job.dir / ".hydra/hydra.yaml")
        assert hydra_config.hydra.job.num == number


@pytest.mark.slow
def test_a_run_in_a_parallel_sweep_equals_the_same_run_alone(shared_sweep, tmp_path) -> None:
    """Bit-for-bit: same seed and BLAS threads give the same curves in a 2-worker sweep and a single run."""
    done = run_nnexp(
        ["activation=relu", "hidden=16", "lr=0.5", "seed=1", "data=digits", "epochs=3", "hydra.run.dir=outputs/alone"],
        tmp_path,  # not the shared sweep's folder
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = [c for c in pd.read_csv(tmp_path / "outputs/alone/metrics.csv").columns if not c.endswith("_seconds")]
    alone = pd.read_csv(tmp_path / "outputs/alone/metrics.csv")[results]
    in_sweep = pd.read_csv(
        shared_sweep.sweep_dir / "activation=relu,data=digits,epochs=3,hidden=16,lr=0.5,seed=1/metrics.csv"
    )
    pd.testing.assert_frame_equal(alone, in_sweep[results], check_exact=True)


@pytest.mark.slow
def test_report_tables_hold_the_means_of_the_runs(shared_sweep) -> None:
    report = shared_sweep.report_dir
    for lr in ("0.05", "0.5"):
        table = pd.read_csv(report / f"test_acc_by_hidden_activation__lr={lr}.csv", index_col="hidden")
        assert table.shape == (2, 2) and list(table.index) == [8, 16]
        assert list(table.columns) == ["relu", "sigmoid"]
        for hidden in (8, 16):
            for activation in ("relu", "sigmoid"):
                finals = []
                for seed in (0, 1):
                    name = f"activation={activation},data=digits,epochs=3,hidden={hidden},lr={lr},seed={seed}"
                    run = shared_sweep.sweep_dir / name
                    finals.append(pd.read_csv(run / "metrics.csv")["test_acc"].iloc[-1])
                    assert read_summary(run / "summary.json")["test_acc"] == pytest.approx(finals[-1])
                assert table.loc[hidden, activation] == pytest.approx(100 * sum(finals) / 2, abs=0.006)
        for fmt in ("md", "tex"):
            assert (report / f"train_seconds_by_hidden_activation__lr={lr}.{fmt}").stat().st_size > 0
    runs = pd.read_csv(report / "runs.csv")
    assert len(runs) == SHARED_RUNS and set(runs["status"]) == {"completed"}
    assert {"activation", "hidden", "lr", "seed", "test_acc", "train_seconds", "n_params"} <= set(runs.columns)


@pytest.mark.slow
def test_report_index_ties_tables_and_figures_together(shared_sweep) -> None:
    report = shared_sweep.report_dir
    index = (report / "index.md").read_text()
    assert f"{SHARED_RUNS} runs of {SHARED_RUNS} planned ({SHARED_RUNS} completed)" in index
    assert "## lr=0.05" in index and "## lr=0.5" in index and "mean of 2 runs per cell" in index
    links = re.findall(r"\]\(([^)]+)\)", index)
    pngs = [link for link in links if link.endswith(".png")]
    assert sum(link.startswith("curves_") for link in pngs) == 4  # loss and accuracy, per lr
    assert sum(link.endswith("_heatmap.png") for link in pngs) == 4  # test_acc and train_seconds, per lr
    assert {"test_acc_vs_time.png", "test_acc_vs_lr.png", "parallel_coordinates.png"} <= set(pngs)
    for link in links:
        assert (report / link).stat().st_size > 0, link


@pytest.mark.slow
def test_figures_drawn_by_the_sweeps_workers_equal_those_drawn_in_one_process(shared_sweep, tmp_path) -> None:
    in_sweep = shared_sweep.report_dir  # drawn at the end of the 2-worker sweep, on its worker processes
    assert report_main([str(shared_sweep.sweep_dir), "--out", str(tmp_path / "serial"), "--jobs", "1"]) == 0
    pngs = sorted(path.name for path in in_sweep.glob("*.png"))
    assert len(pngs) == 11 and pngs == sorted(path.name for path in (tmp_path / "serial").glob("*.png"))
    for name in pngs:
        assert (in_sweep / name).read_bytes() == (tmp_path / "serial" / name).read_bytes(), name


def test_report_jobs_must_be_positive_or_minus_one(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as stop:  # refused before the folder is read
        report_main([str(tmp_path), "--jobs", "0"])
    assert stop.value.code == 2
    assert "--jobs=0 is invalid; allowed: an int >= 1, or -1 (one per core)" in capsys.readouterr().err


@pytest.mark.slow
def test_report_command_takes_another_layout(shared_sweep, tmp_path) -> None:
    out = tmp_path / "by_lr"
    assert (
        report_main(
            [
                str(shared_sweep.sweep_dir),
                "--out",
                str(out),
                "--rows",
                "activation",
                "--cols",
                "lr",
                "--metrics",
                "val_acc",
            ]
        )
        == 0
    )
    table = pd.read_csv(out / "val_acc_by_activation_lr__hidden=8.csv", index_col="activation")
    assert table.shape == (2, 2) and list(table.columns) == ["0.05", "0.5"]
    assert (out / "curves_loss__hidden=16.png").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--rows", "hiden"],
            "error: report.rows=hiden is not a setting of these runs; allowed: .*activation, hidden, lr",
        ),
        (["--metrics", "f1"], "error: report.metrics: f1 unknown; allowed: test_acc"),
    ],
)
def test_report_command_rejects_bad_options_in_one_line(shared_sweep, tmp_path, capsys, args, message) -> None:
    assert report_main([str(shared_sweep.sweep_dir), "--out", str(tmp_path / "x"), *args]) == 2
    err = capsys.readouterr().err
    assert re.match(message, err) and err.count("\n") == 1


def test_report_of_an_empty_or_missing_folder(tmp_path, capsys) -> None:
    assert report_main([str(tmp_path)]) == 2
    assert "holds no runs" in capsys.readouterr().err
    assert report_main([str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err


@pytest.mark.slow
def test_single_run_writes_its_folder(tmp_path) -> None:
    done = run_nnexp(["data=digits", "epochs=2", "hidden=[12,6]", "hydra.run.dir=outputs/one"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    folder = tmp_path / "outputs/one"
    assert read_summary(folder / "summary.json")["layer_sizes"] == [64, 12, 6, 10]
    assert len(pd.read_csv(folder / "metrics.csv")) == 2
    assert "epoch 2/2" in (folder / "run.log").read_text()
    assert not list(tmp_path.rglob("index.md"))  # a single run builds no sweep report


@pytest.mark.slow
@pytest.mark.parametrize("verbose", [False, True])
def test_per_epoch_lines_reach_the_console_only_when_verbose(tmp_path, verbose) -> None:
    args = ["data=digits", "epochs=2", f"verbose={str(verbose).lower()}", "hydra.run.dir=outputs/one"]
    done = run_nnexp(args, tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert ("epoch 1/2" in output, "epoch 2/2" in output) == (verbose, verbose)
    log = (tmp_path / "outputs/one/run.log").read_text()
    assert "epoch 1/2" in log and "epoch 2/2" in log  # the run's log file has them either way
    assert "data digits: " in output and "network [64, 128, 10]" in output and "completed after 2 epochs" in output
    assert done.stdout == "results in outputs/one/ (metrics.csv, summary.json, run.log)\n"  # the rest: on stderr


@pytest.mark.slow
def test_bad_value_is_one_line_and_exit_code_2(tmp_path) -> None:
    done = run_nnexp(["data=digits", "hidden=0", "hydra.run.dir=outputs/bad"], tmp_path)
    assert done.returncode == 2
    output = done.stdout + done.stderr
    assert "error: hidden=0 is invalid; allowed: a positive int or a list of positive ints" in output
    assert "Traceback" not in output
