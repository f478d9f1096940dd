"""Bad input gets one line naming the value or file and what is allowed, before any run, with exit status 2."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from nnexp.data.idx import IDX_FILES, write_idx
from tests.conftest import make_idx_dataset, run_nnexp

SWEEP = ["-m", "data=digits", "epochs=1", "hidden=8,16"]


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "error:" in line]


@pytest.mark.slow
@pytest.mark.parametrize("mode", [["hydra.run.dir=run"], ["-m", "hydra.sweep.dir=sweep"]])
def test_a_bad_value_alone_or_in_a_list_gets_the_same_line_and_status(tmp_path, mode) -> None:
    flags, overrides = [arg for arg in mode if arg == "-m"], [arg for arg in mode if arg != "-m"]
    alone = run_nnexp([*flags, "data=digits", "lr=fast", *overrides], tmp_path)
    listed = run_nnexp([*flags, "data=digits", "lr=fast,0.1", *overrides], tmp_path) if flags else alone
    for done in (alone, listed):
        output = done.stdout + done.stderr
        assert done.returncode == 2, output[-2000:]
        (line,) = _error_lines(output)
        assert line.endswith(
            "error: in the run data=digits lr=fast: lr: Value 'fast' of type 'str' could not be converted to Float"
            " (no run was started)"
        )
        assert "Traceback" not in output and "HYDRA_FULL_ERROR" not in output
    assert not (tmp_path / "run").exists() and not list(tmp_path.glob("sweep/*/metrics.csv"))


@pytest.mark.slow
def test_an_unknown_key_names_the_setting_it_is_near(tmp_path) -> None:
    done = run_nnexp(["data=digits", "hiden=64", "hydra.run.dir=run"], tmp_path)
    (line,) = _error_lines(done.stdout + done.stderr)
    assert done.returncode == 2 and "hiden is not a setting; did you mean hidden?" in line and "activation" in line


def _idx_folder(tmp_path, **replace: np.ndarray):
    folder = tmp_path / "data"
    make_idx_dataset(folder)
    for role, array in replace.items():
        write_idx(folder / IDX_FILES[role], array)
    return folder


@pytest.mark.parametrize(
    "replace, expected",
    [
        ({"test_images": np.zeros((40, 20, 20), np.uint8)}, "test images of 20x20 pixels, training images"),
        (
            {"test_images": np.zeros((0, 28, 28), np.uint8), "test_labels": np.zeros(0, np.uint8)},
            "no test images; expected at least one",
        ),
        (
            {"train_images": np.zeros((0, 28, 28), np.uint8), "train_labels": np.zeros(0, np.uint8)},
            "no train images; expected at least one",
        ),
        ({"train_labels": np.linspace(0, 9, 120).astype(np.float32)}, "labels of type float32; expected integer"),
    ],
)
@pytest.mark.slow
def test_bad_data_files_are_one_line_before_any_run(tmp_path, replace, expected) -> None:
    folder = _idx_folder(tmp_path, **replace)
    for mode in (["hydra.run.dir=run"], ["-m", "hidden=8,16", "hydra.sweep.dir=sweep"]):
        flags = [arg for arg in mode if arg == "-m"]
        overrides = [arg for arg in mode if arg != "-m"]
        done = run_nnexp([*flags, "epochs=1", "batch_size=8", f"data.root={folder}", *overrides], tmp_path)
        output = done.stdout + done.stderr
        assert done.returncode == 2, output[-2000:]
        assert expected in output and "Traceback" not in output
        assert not list(tmp_path.glob("run/metrics.csv")) and not list(tmp_path.glob("sweep/*/metrics.csv"))


@pytest.mark.parametrize(
    "option, expected",
    [
        ("report.rows=foo", "error: report.rows=foo is not a setting of these runs; allowed: preset, task"),
        ("report.published=[nope.csv]", "error: report.published: nope.csv is not a file; allowed: published"),
        ("report.metrics=[acc]", "error: report.metrics: acc unknown; allowed: test_acc"),
        ("hydra.launcher.n_jobs=0", "error: hydra.launcher.n_jobs=0 is invalid; allowed: a number of processes"),
        ("fresh=true", "error: fresh=true does nothing here: hydra.sweep.dir=sweep names the sweep's folder"),
    ],
)
@pytest.mark.slow
def test_bad_sweep_options_are_one_line_before_any_run(tmp_path, option, expected) -> None:
    done = run_nnexp([*SWEEP, option, "hydra.sweep.dir=sweep"], tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-2000:]
    (line,) = _error_lines(output)
    assert expected in line and line.endswith("(no run was started)")
    assert not list(tmp_path.glob("sweep/*/.hydra"))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["read-only", "a file"])
def test_a_sweep_folder_that_cannot_be_written_is_one_line(tmp_path, kind) -> None:
    target = tmp_path / "sweep"
    if kind == "a file":
        target.write_text("not a folder")
    else:
        target.mkdir()
        target.chmod(0o500)
    if kind == "read-only" and os.access(target, os.W_OK):
        pytest.skip("the tests run as a user who can write to read-only folders (root)")
    done = run_nnexp([*SWEEP, f"hydra.sweep.dir={target}"], tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 2 and "Traceback" not in output
    (line,) = _error_lines(output)
    assert f"hydra.sweep.dir={target} cannot be written" in line


@pytest.mark.slow
def test_an_unwritable_cache_folder_leaves_runs_loading_without_it(tmp_path) -> None:
    done = run_nnexp([*SWEEP, "data.cache_dir=/proc/nope", "hydra.sweep.dir=sweep"], tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-2000:]
    assert "array cache not written to /proc/nope/arrays" in output and "Traceback" not in output


@pytest.mark.slow
def test_damaged_plan_and_saved_config_do_not_stop_a_sweep_or_its_report(tmp_path) -> None:
    first = run_nnexp([*SWEEP, "hydra.sweep.dir=sweep", "report.enabled=false"], tmp_path)
    assert first.returncode == 0
    (tmp_path / "sweep/sweep_plan.json").write_text("{not json")
    (run,) = [p for p in (tmp_path / "sweep").iterdir() if p.is_dir() and "hidden=8" in p.name]
    (run / "summary.json").unlink()  # an unfinished run whose saved config is damaged
    (run / ".hydra/config.yaml").write_text("a: [unclosed\n")
    from nnexp.report.build import build_report

    index = build_report(tmp_path / "sweep", tmp_path / "report").read_text()
    assert "unreadable" in index and ".hydra/config.yaml cannot be read" in index
    again = run_nnexp([*SWEEP, "hydra.sweep.dir=sweep"], tmp_path)
    output = again.stdout + again.stderr
    assert again.returncode == 0 and "Traceback" not in output, output[-2000:]
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"


@pytest.mark.slow
def test_runs_on_data_that_cannot_be_prepared_fail_alone(tmp_path) -> None:
    done = run_nnexp(
        ["-m", "data=digits,mnist", f"data.root={tmp_path / 'nowhere'}", "epochs=1", "hidden=8", "hydra.sweep.dir=s"],
        tmp_path,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-2000:]  # the digits run completed, the mnist run failed with its own error
    assert "data mnist cannot be prepared, its runs will fail" in output
    assert "sweep done: 1 completed, 1 failed" in output
