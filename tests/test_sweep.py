"""A real sweep end to end: `python -m nnexp.run -m ...` on digits, joblib launcher, report from disk."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from omegaconf import OmegaConf

from nnexp.report.__main__ import main as report_main
from nnexp.results import read_summary
from nnexp.sweep.plan import read_plan
from tests.conftest import run_nnexp

SWEEP = ["activation=sigmoid,relu", "hidden=8,16", "lr=0.05,0.5", "seed=0,1"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    done = run_nnexp(
        ["-m", *SWEEP, "data=digits", "epochs=3", "hydra.sweep.dir=multirun/grid", "hydra.launcher.n_jobs=2"], root
    )
    return root, done


def test_sweep_runs_every_configuration_through_joblib(sweep) -> None:
    root, done = sweep
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert "Joblib.Parallel(n_jobs=2" in output and "is launching 16 jobs" in output
    assert "sweep of 16 runs" in output
    assert re.search(r"sweep progress: 16/16 runs finished", output)
    runs = sorted((root / "multirun/grid").glob("*/summary.json"))
    assert len(runs) == 16
    names = {p.parent.name for p in runs}
    assert "activation=relu,data=digits,epochs=3,hidden=16,lr=0.5,seed=1" in names
    for summary_path in runs:
        metrics = pd.read_csv(summary_path.parent / "metrics.csv")
        assert list(metrics["epoch"]) == [1, 2, 3]
        log = (summary_path.parent / "run.log").read_text()
        assert log.count("epoch ") >= 3 and "completed after 3 epochs" in log


def test_runs_start_longest_first_and_keep_their_grid_numbers(sweep) -> None:
    root, done = sweep
    plan = read_plan(root / "multirun/grid")
    started = [int(n) for n in re.findall(r"\t#(\d+) : ", done.stdout + done.stderr)]
    works = [job["work"] for job in plan["jobs"]]
    assert started == sorted(range(16), key=lambda i: -works[i])
    assert all("hidden=16" in plan["jobs"][i]["overrides"] for i in started[:8])  # the larger networks first
    for number, job in enumerate(plan["jobs"]):
        hydra_config = OmegaConf.load(root / "multirun/grid" / job["dir"] / ".hydra/hydra.yaml")
        assert hydra_config.hydra.job.num == number


def test_a_run_in_a_parallel_sweep_equals_the_same_run_alone(sweep) -> None:
    """Bit-for-bit: same seed and BLAS threads give the same curves in a 2-worker sweep and a single run."""
    root, _ = sweep
    done = run_nnexp(
        ["activation=relu", "hidden=16", "lr=0.5", "seed=1", "data=digits", "epochs=3", "hydra.run.dir=outputs/alone"],
        root,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = [c for c in pd.read_csv(root / "outputs/alone/metrics.csv").columns if not c.endswith("_seconds")]
    alone = pd.read_csv(root / "outputs/alone/metrics.csv")[results]
    in_sweep = pd.read_csv(
        root / "multirun/grid/activation=relu,data=digits,epochs=3,hidden=16,lr=0.5,seed=1/metrics.csv"
    )
    pd.testing.assert_frame_equal(alone, in_sweep[results], check_exact=True)


def test_report_tables_hold_the_means_of_the_runs(sweep) -> None:
    root, _ = sweep
    report = root / "reports" / "grid"
    for lr in ("0.05", "0.5"):
        table = pd.read_csv(report / f"test_acc_by_hidden_activation__lr={lr}.csv", index_col="hidden")
        assert table.shape == (2, 2) and list(table.index) == [8, 16]
        assert list(table.columns) == ["relu", "sigmoid"]
        for hidden in (8, 16):
            for activation in ("relu", "sigmoid"):
                finals = []
                for seed in (0, 1):
                    name = f"activation={activation},data=digits,epochs=3,hidden={hidden},lr={lr},seed={seed}"
                    run = root / "multirun/grid" / name
                    finals.append(pd.read_csv(run / "metrics.csv")["test_acc"].iloc[-1])
                    assert read_summary(run / "summary.json")["test_acc"] == pytest.approx(finals[-1])
                assert table.loc[hidden, activation] == pytest.approx(100 * sum(finals) / 2, abs=0.006)
        for fmt in ("md", "tex"):
            assert (report / f"train_seconds_by_hidden_activation__lr={lr}.{fmt}").stat().st_size > 0
    runs = pd.read_csv(report / "runs.csv")
    assert len(runs) == 16 and set(runs["status"]) == {"completed"}
    assert {"activation", "hidden", "lr", "seed", "test_acc", "train_seconds", "n_params"} <= set(runs.columns)


def test_report_index_ties_tables_and_figures_together(sweep) -> None:
    root, _ = sweep
    report = root / "reports" / "grid"
    index = (report / "index.md").read_text()
    assert "16 runs of 16 planned (16 completed)" in index
    assert "## lr=0.05" in index and "## lr=0.5" in index and "mean of 2 runs per cell" in index
    links = re.findall(r"\]\(([^)]+)\)", index)
    pngs = [link for link in links if link.endswith(".png")]
    assert sum(link.startswith("curves_") for link in pngs) == 4  # loss and accuracy, per lr
    assert sum(link.endswith("_heatmap.png") for link in pngs) == 4  # test_acc and train_seconds, per lr
    assert {"test_acc_vs_time.png", "test_acc_vs_lr.png", "parallel_coordinates.png"} <= set(pngs)
    for link in links:
        assert (report / link).stat().st_size > 0, link


def test_figures_drawn_by_the_sweeps_workers_equal_those_drawn_in_one_process(sweep, tmp_path) -> None:
    root, _ = sweep
    in_sweep = root / "reports" / "grid"  # drawn at the end of the 2-worker sweep, on its worker processes
    assert report_main([str(root / "multirun/grid"), "--out", str(tmp_path / "serial"), "--jobs", "1"]) == 0
    pngs = sorted(path.name for path in in_sweep.glob("*.png"))
    assert len(pngs) == 11 and pngs == sorted(path.name for path in (tmp_path / "serial").glob("*.png"))
    for name in pngs:
        assert (in_sweep / name).read_bytes() == (tmp_path / "serial" / name).read_bytes(), name


def test_report_jobs_must_be_positive_or_minus_one(sweep, tmp_path, capsys) -> None:
    root, _ = sweep
    with pytest.raises(SystemExit) as stop:
        report_main([str(root / "multirun/grid"), "--jobs", "0"])
    assert stop.value.code == 2
    assert "--jobs=0 is invalid; allowed: an int >= 1, or -1 (one per core)" in capsys.readouterr().err


def test_report_command_takes_another_layout(sweep, tmp_path, capsys) -> None:
    root, _ = sweep
    out = tmp_path / "by_lr"
    assert (
        report_main(
            [
                str(root / "multirun/grid"),
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


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--rows", "hiden"],
            "error: report rows='hiden' is not a setting of these runs; allowed: .*activation, hidden, lr",
        ),
        (["--metrics", "f1"], "error: report metrics \\['f1'\\] unknown; allowed: test_acc"),
    ],
)
def test_report_command_rejects_bad_options_in_one_line(sweep, tmp_path, capsys, args, message) -> None:
    root, _ = sweep
    assert report_main([str(root / "multirun/grid"), "--out", str(tmp_path / "x"), *args]) == 2
    err = capsys.readouterr().err
    assert re.match(message, err) and err.count("\n") == 1


def test_report_of_an_empty_or_missing_folder(tmp_path, capsys) -> None:
    assert report_main([str(tmp_path)]) == 2
    assert "holds no runs" in capsys.readouterr().err
    assert report_main([str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_single_run_writes_its_folder(tmp_path) -> None:
    done = run_nnexp(["data=digits", "epochs=2", "hidden=[12,6]", "hydra.run.dir=outputs/one"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    folder = tmp_path / "outputs/one"
    assert read_summary(folder / "summary.json")["layer_sizes"] == [64, 12, 6, 10]
    assert len(pd.read_csv(folder / "metrics.csv")) == 2
    assert "epoch 2/2" in (folder / "run.log").read_text()
    assert not (tmp_path / "reports").exists()  # a single run builds no sweep report


def test_bad_value_is_one_line_and_exit_code_2(tmp_path) -> None:
    done = run_nnexp(["data=digits", "hidden=0", "hydra.run.dir=outputs/bad"], tmp_path)
    assert done.returncode == 2
    output = done.stdout + done.stderr
    assert "error: hidden=0 is invalid; allowed: a positive int or a list of positive ints" in output
    assert "Traceback" not in output
