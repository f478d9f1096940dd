"""Every setting has a domain, checked before any work in one line; degenerate data is trained on with a warning in
the run's log, its summary and the sweep's report (issue 27, principle 5)."""

from __future__ import annotations

import dataclasses
import json
from enum import Enum
from pathlib import Path

import numpy as np
import pytest

from nnexp.data import DataConfig, load_dataset
from nnexp.data.idx import IDX_FILES, write_idx
from nnexp.data.sets import digits
from nnexp.errors import ConfigError
from nnexp.optim import OPTIMIZERS, SCHEDULES
from nnexp.training import RunSpec
from nnexp.training.spec import DOMAINS, setting
from tests.conftest import digits_n_train, make_idx_dataset, run_nnexp, settings_of

DIGITS_TOTAL = digits.N_IMAGES - digits.N_TEST  # training images before the validation split
DIGITS_TRAIN = digits_n_train(0.15)  # after it, with the digits default data.val_size=0.15

# Settings without an entry in DOMAINS, and where their values are checked instead
CHECKED_ELSEWHERE = {
    "hidden": "spec._hidden",
    "batch_size": "spec._batch_size, and against the training set",
    "positive_class": "below data.n_classes",
    "data.loader": "a reader of nnexp.data.sets",
    "data.files": "each a name (A_NAME), in check_values",
    "data.root": "its files are read (bad data files: one line)",
    "data.cache_dir": "written to (or runs load without a cache, with one line)",
    "data.urls": "downloaded from (each mirror's failure said)",
    "data.md5": "checked after each download",
    "preset": "a label, recorded",
    "report.dir": "a folder path, where the report is written",
    "report.rows": "a setting of the runs, before any run",
    "report.cols": "a setting of the runs, before any run",
    "report.metrics": "known metrics, before any run",
    "report.published": "readable tables, before any run",
    "tracker.dir": "a folder the tracker writes to, before any run (nnexp.tracking.opening.check_tracker)",
    "tracker.uri": "a store MLflow opens, before any run (check_tracker)",
    "tracker.experiment": "an MLflow experiment, found or made before any run (check_tracker)",
}


def _setting_keys(node: object, prefix: str = "") -> list[str]:
    """The dotted keys of every setting of a config dataclass (a list or a mapping is one setting)."""
    keys = []
    for item in dataclasses.fields(node):
        value = getattr(node, item.name)
        key = prefix + item.name
        keys += _setting_keys(value, f"{key}.") if dataclasses.is_dataclass(value) else [key]
    return keys


def test_every_setting_has_a_domain(compose_config) -> None:
    settings = settings_of(compose_config())
    method = {f"optimizer.{key}" for optimizer in OPTIMIZERS.values() for key in optimizer.ALLOWED}
    method |= {f"lr_schedule.{key}" for schedule in SCHEDULES.values() for key in schedule.allowed}
    without = [
        key
        for key in _setting_keys(settings)
        if not (
            isinstance(setting(settings, key), (Enum, bool))  # Hydra refuses other values
            or key in DOMAINS
            or key in method
            or key in CHECKED_ELSEWHERE
        )
    ]
    assert not without, f"settings without a domain: {without}"
    for optimizer in OPTIMIZERS.values():
        assert set(optimizer.ALLOWED) == set(optimizer.SETTINGS), optimizer.name
    for schedule in SCHEDULES.values():
        assert set(schedule.allowed) == set(schedule.settings), schedule.name


# (override, accepted) pairs at the edges of each domain, on data=digits (1,438 training images, 1,222 after the
# validation split)
EDGES = [
    ("data.val_size=0.5", True),
    ("data.val_size=1", True),  # a count: one image
    ("data.val_size=2", True),
    (f"batch_size=full data.val_size={DIGITS_TOTAL - 1}", True),  # one training image left
    ("data.val_size=1.5", False),  # neither a fraction nor a count
    ("data.val_size=0", False),
    ("data.val_size=nan", False),
    (f"data.val_size={DIGITS_TOTAL}", False),  # no training image left
    (f"data.train_limit={DIGITS_TRAIN}", True),
    (f"data.train_limit={DIGITS_TRAIN + 1}", False),  # more than the data has
    ("data.train_limit=0", False),
    ("data.name=digits-2", True),
    ("data.name=../../elsewhere", False),  # a path: the cache folder would be outside the cache
    ("data.name=.hidden", False),
    ("data.files.train_images=../../../etc/passwd", False),  # a download would be written outside its folder
    ("data.split_seed=0", True),
    ("data.split_seed=-1", False),
    ("data.n_classes=2", True),
    ("data.n_classes=1", False),
    ("positive_class=9", True),
    ("positive_class=10", False),
    (f"batch_size={DIGITS_TRAIN}", True),
    (f"batch_size={DIGITS_TRAIN + 1}", False),
    ("epochs=1", True),
    ("epochs=0", False),
    ("lr=1e-9", True),
    ("lr=inf", False),
    ("lr=nan", False),
    ("init_scale=0", False),
    ("leaky_slope=0.999", True),
    ("leaky_slope=1", False),
    ("blas_threads=1", True),
    ("blas_threads=0", False),
    ("seed=0", True),
    ("seed=-1", False),
    ("weight_decay=0", True),
    ("weight_decay=-1e-9", False),
    ("dropout=0.99", True),
    ("dropout=1", False),
    ("early_stopping.patience=0", True),
    ("early_stopping.patience=-1", False),
    ("early_stopping.min_delta=0", True),
    ("early_stopping.min_delta=nan", False),
    ("optimizer=adam optimizer.beta2=0", True),
    ("optimizer=adam optimizer.beta2=1", False),
    ("optimizer=rmsprop optimizer.eps=0", False),
    ("lr_schedule=step lr_schedule.gamma=1", True),
    ("lr_schedule=step lr_schedule.gamma=0", False),
    ("lr_schedule=cosine lr_schedule.t_max=1", True),
    ("lr_schedule=cosine lr_schedule.t_max=0", False),
    ("lr_schedule=inverse_time lr_schedule.decay=-1", False),
]


@pytest.mark.parametrize("overrides, accepted", EDGES)
def test_each_domain_edge_is_accepted_or_refused_in_one_line(compose_config, overrides, accepted) -> None:
    *_, last = overrides.split()
    key, value = last.split("=")
    settings = settings_of(compose_config(["data=digits", *overrides.split()]))
    if accepted:
        RunSpec.from_settings(settings)
        return
    with pytest.raises(ConfigError) as info:
        RunSpec.from_settings(settings)
    message = str(info.value)
    assert "\n" not in message and f"{key}={setting(settings, key)}" in message and "allowed: " in message, message
    assert value in message or str(setting(settings, key)) in message


def _idx_folder(tmp_path: Path, **replace: np.ndarray) -> Path:
    """The generated IDX data set (120 training, 40 test images) with some of its arrays replaced."""
    folder = tmp_path / "data"
    make_idx_dataset(folder)
    for role, array in replace.items():
        write_idx(folder / IDX_FILES[role], array)
    return folder


ALL_CLASSES = np.arange(120, dtype=np.uint8) % 10
DEGENERATE = {
    "constant images": (
        {"train_images": np.full((120, 28, 28), 7, np.uint8)},
        ["all 108 training images are constant (every pixel is 7): there is nothing to learn from them"],
    ),
    "one class": (
        {"train_labels": np.full(120, 3, np.uint8), "test_labels": np.full(40, 3, np.uint8)},
        ["the training set holds one class only (class 3): the network can learn nothing else"],
    ),
    "test classes not trained on": (
        {"train_labels": ALL_CLASSES % 8, "test_labels": np.arange(40, dtype=np.uint8) % 10},
        ["test classes 8, 9 have no training image: the network cannot learn them"],
    ),
    "trained classes not tested": (
        {"train_labels": ALL_CLASSES, "test_labels": np.arange(40, dtype=np.uint8) % 9},
        ["training classes 9 are not in the test set: the test accuracy omits them"],
    ),
    "nothing wrong": ({"train_labels": ALL_CLASSES, "test_labels": np.arange(40, dtype=np.uint8) % 10}, []),
}


@pytest.mark.parametrize("case", DEGENERATE)
@pytest.mark.parametrize("cached", [False, True])
def test_degenerate_data_is_found_once_and_kept_with_the_cached_arrays(tmp_path, case, cached) -> None:
    replace, expected = DEGENERATE[case]
    cfg = DataConfig(root=str(_idx_folder(tmp_path, **replace)), cache_dir=str(tmp_path / "cache"), cache_arrays=cached)
    first, again = load_dataset(cfg), load_dataset(cfg)  # cached: built, then mapped from the cache
    assert first.warnings() == again.warnings() == expected
    assert (again.cache_generation is not None) == cached


@pytest.mark.slow
def test_a_value_outside_its_domain_stops_a_single_run_in_one_line(tmp_path) -> None:
    done = run_nnexp(["data=digits", "epochs=1", "data.val_size=1.5", "hydra.run.dir=run"], tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-2000:]
    (line,) = [line for line in output.splitlines() if "error:" in line]
    assert line.endswith(
        "error: data.val_size=1.5 is invalid; allowed: a fraction in (0, 1) or a count >= 1 (no run was started)"
    )
    assert "Traceback" not in output and not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "swept, refused",
    [
        ("data.val_size=0.1,1.5", "data.val_size=1.5 is invalid; allowed: a fraction in (0, 1) or a count >= 1"),
        (  # a count the data does not have: known once the data is prepared, still before any run
            f"data.val_size=0.1,{DIGITS_TOTAL}",
            f"data.val_size={DIGITS_TOTAL}.0 gives {DIGITS_TOTAL} validation images out of {DIGITS_TOTAL};"
            f" allowed: a fraction in (0, 1) or a count from 1 to {DIGITS_TOTAL - 1}",
        ),
        (
            f"data.train_limit=100,{DIGITS_TRAIN + 1}",
            f"data.train_limit={DIGITS_TRAIN + 1} is more than the {DIGITS_TRAIN} training images left after the"
            f" validation split (data.val_size=0.15); allowed: null (all of them) or a count from 1 to {DIGITS_TRAIN}",
        ),
    ],
    ids=["not-a-count", "val-size-beyond-the-data", "train-limit-beyond-the-data"],
)
def test_a_value_outside_its_domain_in_a_sweep_list_stops_it_before_any_run(tmp_path, swept, refused) -> None:
    done = run_nnexp(["-m", "data=digits", "epochs=1", swept, "hydra.sweep.dir=sweep"], tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-2000:]
    (line,) = [line for line in output.splitlines() if "error:" in line]
    bad = swept.replace(swept.split("=")[1], swept.split(",")[1])  # the run with the refused value
    assert line.endswith(f"error: in the run data=digits epochs=1 {bad}: {refused} (no run was started)"), line
    assert "Traceback" not in output and not (tmp_path / "sweep").exists()


@pytest.mark.slow
def test_degenerate_data_trains_with_a_warning_in_the_log_the_summary_and_the_report(tmp_path) -> None:
    blank, one_class = np.zeros((120, 28, 28), np.uint8), np.full(120, 3, np.uint8)
    folder = _idx_folder(tmp_path, train_images=blank, train_labels=one_class)
    args = ["-m", f"data.root={folder}", "epochs=1", "batch_size=8", "hidden=8", "hydra.launcher.n_jobs=1"]
    done = run_nnexp([*args, "hydra.sweep.dir=sweep"], tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in output, output[-2000:]
    (run,) = [path.parent for path in (tmp_path / "sweep").glob("*/summary.json")]
    summary = json.loads((run / "summary.json").read_text())
    expected = [
        "all 108 training images are constant (every pixel is 0): there is nothing to learn from them",
        "the training set holds one class only (class 3): the network can learn nothing else",
        "test classes 0, 1, 2, 4, 5, 6, 7, 8, 9 have no training image: the network cannot learn them",
    ]
    assert summary["status"] == "completed" and summary["warnings"] == expected
    log = [line for line in (run / "run.log").read_text().splitlines() if "data warning:" in line]
    assert [line.split("data warning: ", 1)[1] for line in log] == expected
    assert all("WARNING" in line for line in log)
    report = (tmp_path / "sweep" / "report" / "index.md").read_text()
    assert "(data warnings):" in report and f"`{run.name}`: {'; '.join(expected)}" in report
    assert expected[0] in (tmp_path / "sweep" / "report" / "index.html").read_text()
