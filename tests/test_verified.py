"""Finished means verified: a run's summary records what it wrote; a finished run whose files disagree is reported
damaged and trained again, its files set aside, never deleted; another configuration's finished run is never
overwritten."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import replace
from pathlib import Path

import pytest

from nnexp.config import Config
from nnexp.errors import ConfigError
from nnexp.report.runs import load_runs
from nnexp.results import RunSummary
from nnexp.results.files import damage, finished_summary, load_summary, run_lock
from nnexp.training import execute
from nnexp.training.job import record_lost
from tests.conftest import make_idx_dataset, settings_of

SETTINGS = ["epochs=3", "hidden=8", "batch_size=16", "save_model=true"]


def _files(folder: Path) -> dict[str, bytes]:
    """The bytes of every file below ``folder``, by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _same(read: RunSummary | None, expected: RunSummary) -> bool:
    """Whether ``read`` records what ``expected`` does (as JSON: NaN equals NaN there)."""
    return read is not None and json.dumps(read.to_dict(), sort_keys=True) == json.dumps(
        expected.to_dict(), sort_keys=True
    )


def _cut_last_row(metrics: Path) -> None:
    """Truncate the metrics CSV 5 bytes into its last row, as a disk that filled up would."""
    content = metrics.read_bytes()
    metrics.write_bytes(content[: content.rindex(b"\n", 0, -1) + 6])


@pytest.fixture
def run(tmp_path, compose_config) -> tuple[Config, Path, RunSummary]:
    """A run trained for real (3 epochs on a small MNIST-shaped data set, model saved) in ``<tmp>/sweep/run``:
    its settings, folder and summary."""
    make_idx_dataset(tmp_path / "data")
    settings = settings_of(compose_config([f"data.root={tmp_path / 'data'}", *SETTINGS]))
    folder = tmp_path / "sweep" / "run"
    return settings, folder, execute(settings, folder)


def test_an_intact_run_records_its_files_and_is_skipped(run, caplog) -> None:
    settings, folder, summary = run
    sha256 = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in ("metrics.csv", "model.npz")}
    assert summary.files == {
        "metrics.csv": {"rows": 3, "sha256": sha256["metrics.csv"]},
        "model.npz": {"sha256": sha256["model.npz"]},
    }
    assert damage(folder, summary) is None and finished_summary(folder, summary.fingerprint) is not None
    before = _files(folder)
    with caplog.at_level(logging.INFO, logger="nnexp.run"):
        assert execute(settings, folder).finished == summary.finished
    assert "skipped: finished already" in caplog.text and _files(folder) == before
    assert list(load_runs(folder.parent)["status"]) == ["completed"]


def test_a_truncated_metrics_csv_is_damaged_set_aside_and_trained_again(run, caplog) -> None:
    settings, folder, summary = run
    _cut_last_row(folder / "metrics.csv")
    (folder / "run.log").write_text("the log of the first attempt\n")  # as Hydra's log handler would have it
    assert finished_summary(folder, summary.fingerprint) is None
    runs = load_runs(folder.parent)
    assert list(runs["status"]) == ["damaged"]
    assert runs["error"].iloc[0] == "metrics.csv has 2 rows, its summary records 3"
    assert "test_acc" not in runs  # its metrics are not a result

    damaged = _files(folder)
    with caplog.at_level(logging.WARNING, logger="nnexp.run"):
        again = execute(settings, folder)
    (aside,) = folder.glob("damaged-*")
    assert re.fullmatch(r"damaged-\d{8}T\d{6}Z", aside.name)  # its UTC time
    assert _files(aside) == {name: data for name, data in damaged.items() if not name.startswith(".")}
    assert (folder / "run.log").read_bytes() == damaged["run.log"]  # copied: its handler still appends to it
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning == (
        "the finished run is damaged (metrics.csv has 2 rows, its summary records 3): "
        f"its files are set aside in {aside}/, training again"
    )
    assert again.finished != summary.finished and damage(folder, again) is None
    assert _same(finished_summary(folder, summary.fingerprint), again)
    assert list(load_runs(folder.parent)["status"]) == ["completed"]  # the set-aside files are not a run


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        ("flip", "model.npz differs from the one its summary records (sha256)"),
        ("delete", "model.npz is missing"),
    ],
)
def test_a_changed_or_missing_model_makes_the_run_damaged(run, edit, reason) -> None:
    settings, folder, summary = run
    model = folder / "model.npz"
    if edit == "flip":
        content = bytearray(model.read_bytes())
        content[len(content) // 2] ^= 0x01
        model.write_bytes(content)
    else:
        model.unlink()
    assert damage(folder, summary) == reason and finished_summary(folder, summary.fingerprint) is None
    runs = load_runs(folder.parent)
    assert list(runs["status"]) == ["damaged"] and runs["error"].iloc[0] == reason
    execute(settings, folder)
    (aside,) = folder.glob("damaged-*")
    assert (aside / "model.npz").exists() == (edit == "flip") and finished_summary(folder, summary.fingerprint)


def test_a_summary_without_files_passes_only_with_all_its_epochs(run) -> None:
    """A summary written before summaries recorded their files: its metrics.csv must hold its epochs."""
    _, folder, summary = run
    legacy = {key: value for key, value in summary.to_dict().items() if key != "files"}
    (folder / "summary.json").write_text(json.dumps(legacy))
    assert _same(finished_summary(folder, summary.fingerprint), replace(summary, files=None))
    _cut_last_row(folder / "metrics.csv")
    damaged = "metrics.csv does not hold the epochs its summary records (1..3)"
    assert damage(folder, RunSummary.from_dict(legacy)) == damaged
    assert finished_summary(folder, summary.fingerprint) is None


@pytest.mark.parametrize("other", ["settings", "data"])
def test_a_finished_run_of_another_configuration_is_never_overwritten(run, compose_config, tmp_path, other) -> None:
    _, folder, summary = run
    if other == "data":  # other files under the same data folder
        make_idx_dataset(tmp_path / "data", seed=1)
    overrides = [f"data.root={tmp_path / 'data'}", *SETTINGS, *(["hidden=16"] if other == "settings" else [])]
    before = _files(folder)
    with pytest.raises(ConfigError) as raised:
        execute(settings_of(compose_config(overrides)), folder)
    assert str(raised.value).startswith(
        f"{folder} holds a finished run of another configuration (fingerprint {summary.fingerprint}, this one "
    )
    assert "nothing was overwritten" in str(raised.value)
    assert _files(folder) == before


def test_a_run_lost_with_its_worker_is_recorded_failed_but_a_finished_run_is_never_overwritten(run) -> None:
    """A worker can be killed after its run ended, or after it found the run finished before: the launcher's
    record of the loss leaves a finished run as it is; an unfinished one is recorded failed; a folder whose run
    another process holds is not touched (that run records its own outcome)."""
    _, folder, summary = run
    killed = "worker process killed by signal 9 (out of memory?)"
    before = _files(folder)
    assert _same(record_lost(folder, killed, summary.fingerprint, summary.config), summary)
    assert _files(folder) == before
    (folder / "summary.json").unlink()  # as when an attempt starts: until it finishes, the run is unfinished
    with run_lock(folder), pytest.raises(BlockingIOError):  # another process's run in the folder
        record_lost(folder, killed, summary.fingerprint, summary.config)
    assert not (folder / "summary.json").exists()
    assert record_lost(folder, killed, summary.fingerprint, summary.config) is None
    lost = load_summary(folder / "summary.json")
    assert (lost.status, lost.error, lost.fingerprint) == ("failed", killed, summary.fingerprint)
    assert (folder / "error.txt").read_text() == killed + "\n"


@pytest.mark.parametrize("files", [None, [], {"metrics.csv": "abc"}])
def test_a_summary_whose_files_record_is_malformed_is_damaged_not_a_crash(run, files) -> None:
    _, folder, summary = run
    edited = {**summary.to_dict(), "files": files}
    (folder / "summary.json").write_text(json.dumps(edited))
    assert (
        damage(folder, RunSummary.from_dict(edited)) == "summary.json records its files in a form nnexp does not write"
    )
    assert finished_summary(folder, summary.fingerprint) is None


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        ({"files": {}}, "summary.json does not record metrics.csv"),
        ({"data_cache": ["a", "list"]}, "summary.json records its data cache in a form nnexp does not write"),
        ({"files": None, "epochs_completed": None}, "summary.json records neither the files nor the epochs of its run"),
    ],
    ids=["no files", "data cache a list", "neither files nor epochs"],
)
def test_a_summary_that_records_too_little_is_damaged_and_its_files_set_aside(run, edit, reason) -> None:
    """Whatever a summary leaves out or garbles, its run is not taken as verified: damaged, and a rerun sets its files
    aside (never accepted silently, never deleted)."""
    settings, folder, summary = run
    edited = {key: value for key, value in summary.to_dict().items() if edit.get(key, "") is not None}
    edited |= {key: value for key, value in edit.items() if value is not None}
    (folder / "summary.json").write_text(json.dumps(edited))
    assert damage(folder, RunSummary.from_dict(edited)) == reason
    assert finished_summary(folder, summary.fingerprint) is None
    before = _files(folder)
    execute(settings, folder)
    (aside,) = folder.glob("damaged-*")
    assert (aside / "summary.json").read_bytes() == before["summary.json"]
    assert (aside / "metrics.csv").read_bytes() == before["metrics.csv"]
