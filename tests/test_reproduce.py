"""``python -m nnexp.reproduce`` end to end on tiny settings: the sweeps, the reports, the scoreboard."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from nnexp.report.build import concurrency
from nnexp.report.published import load_published
from nnexp.reproduce.presets import published_tables

PRESETS = ["w003_single_neuron", "w003_multiclass"]


def test_concurrent_runs_are_counted_from_their_times() -> None:
    runs = pd.DataFrame(
        {
            "started": ["2026-01-01T00:00:00", "2026-01-01T00:00:05", "2026-01-01T00:00:20"],
            "finished": ["2026-01-01T00:00:10", "2026-01-01T00:00:15", "2026-01-01T00:00:30"],
        }
    )
    assert concurrency(runs) == 2
    assert concurrency(runs.iloc[[0, 2]]) == 1


def test_the_help_names_every_preset() -> None:
    done = subprocess.run([sys.executable, "-m", "nnexp.reproduce", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "w000_tables" in done.stdout and "--seeds" in done.stdout


def test_an_unknown_preset_is_one_line(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nnexp.reproduce", "w999"], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 2 and "unknown preset w999; allowed: a000_protocols" in done.stderr
    assert not (tmp_path / "reproduction").exists()


@pytest.mark.slow
def test_reproduce_runs_presets_and_scores_every_published_value(tmp_path) -> None:
    out = tmp_path / "rep"
    command = [sys.executable, "-m", "nnexp.reproduce", "--seeds", "1", "--out", str(out), "--jobs", "2"]
    command += ["-o", "data=digits", "-o", "epochs=1", *PRESETS]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=900)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    board = pd.read_csv(out / "scoreboard.csv")
    expected = sum(len(load_published(path)) for path in published_tables())
    assert len(board) == expected  # every published value, run or not
    for column in ("published", "ours", "ci95", "n", "delta", "verdict"):
        assert column in board
    ran = board[board["table"].isin(["V.B single neuron", "V.D multi-class"])]
    assert len(ran) == 8 and (ran["n"] == 1).all() and ran["preset"].isin(PRESETS).all()
    assert (board.loc[~board.index.isin(ran.index), "verdict"] == "not run").all()
    page = (out / "scoreboard.md").read_text()
    assert "scikit-learn digits" in page and "not run" in page and "one run gives no interval" in page
    for preset in PRESETS:
        assert (out / "reports" / preset / "index.html").is_file()
        assert f"reports/{preset}/index.html" in page
        report = (out / "reports" / preset / "index.md").read_text()
        assert f"# Sweep report: {preset}" in report  # the preset, not the folder's timestamp
        assert "one run per configuration: no bands" in report and "bands: 95% CI" not in report
        assert "One run gives no interval" in report
    again = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert again.returncode == 0 and "finished already and are skipped" in again.stdout + again.stderr
