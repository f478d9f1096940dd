"""nnexp.MLPClassifier: scikit-learn's estimator checks; a fit that is a run (the same weights to the last bit);
partial_fit; nnexp's settings, defaults and one-line errors; pipelines, grid search and the README's example."""

from __future__ import annotations

import dataclasses
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import nnexp
from nnexp.config import Config, EarlyStoppingConfig
from nnexp.data import DataConfig, open_dataset
from nnexp.data.splits import Preprocess
from nnexp.errors import ConfigError
from nnexp.estimator import MLPClassifier
from nnexp.estimator_settings import (
    EARLY_STOPPING,
    OPTIMIZER_SETTINGS,
    RUN_SETTINGS,
    SCHEDULE_SETTINGS,
    Training,
    checked,
)
from nnexp.optim import OPTIMIZERS, SCHEDULES
from nnexp.results.files import read_epoch_rows
from nnexp.results.model_file import load_model
from nnexp.training import RunSpec, execute
from tests.conftest import ROOT, settings_of


# Every check of scikit-learn's suite applies and passes, so none is listed as expected to fail (the
# expected_failed_checks argument stays unset). Those about what this estimator does not have (sample weights,
# decision_function, max_iter) find nothing to test and pass; check_array_api_input skips unless SCIPY_ARRAY_API=1 is
# set (the estimator takes NumPy arrays only). The second estimator takes the other paths: deeper, float64, sigmoid
# units, Adam with a schedule, dropout, a validation split with early stopping, full batch.
@parametrize_with_checks(
    [
        MLPClassifier(),
        MLPClassifier(
            hidden=[16, 8],
            activation="relu",
            output="sigmoid",
            optimizer="adam",
            lr=0.05,
            lr_schedule="cosine",
            dropout=0.1,
            val_size=0.2,
            patience=3,
            dtype="float64",
            batch_size="full",
            epochs=100,
        ),
    ]
)
def test_scikit_learn_estimator_checks(estimator, check) -> None:
    check(estimator)


@pytest.fixture(scope="module")
def digits() -> dict[str, np.ndarray]:
    """The digits as a run of ``data=digits`` reads them: its training images (before the validation split, in the
    reader's order) and test images, pixels scaled to [0, 1] as ``data.scaling=unit`` scales them."""
    raw = open_dataset(DataConfig(name="digits", loader="digits")).load()
    unit = Preprocess(raw.pixel_max)
    return {"x": unit(raw.x_train), "y": raw.y_train, "x_test": unit(raw.x_test), "y_test": raw.y_test}


# A run's overrides (after data=digits) and the same settings as parameters (digits' batch_size 16 and data.val_size
# 0.15 included); each case a path of the trainer: plain SGD; Adam with a schedule, dropout, weight decay and early
# stopping that stops (at epoch 6 of 12, keeping epoch 4); one sigmoid unit (one_vs_all) with the quadratic cost,
# Nesterov momentum, full batch, float64
SAME_SETTINGS = {
    "sgd": (["epochs=5"], {"epochs": 5}),
    "adam_early_stopping": (
        [
            "epochs=12",
            "hidden=[32,16]",
            "activation=relu",
            "init=he",
            "optimizer=adam",
            "lr=0.03",
            "lr_schedule=step",
            "lr_schedule.step_size=3",
            "dropout=0.2",
            "weight_decay=0.0001",
            "early_stopping.patience=2",
            "early_stopping.metric=val_acc",
            "seed=3",
        ],
        {
            "epochs": 12,
            "hidden": [32, 16],
            "activation": "relu",
            "init": "he",
            "optimizer": "adam",
            "lr": 0.03,
            "lr_schedule": "step",
            "step_size": 3,
            "dropout": 0.2,
            "weight_decay": 0.0001,
            "patience": 2,
            "stop_metric": "val_acc",
            "random_state": 3,
        },
    ),
    "one_sigmoid_unit": (
        [
            "epochs=6",
            "task=one_vs_all",
            "positive_class=3",
            "loss=mse",
            "optimizer=nesterov",
            "lr=2",
            "batch_size=full",
            "init=normal",
            "init_scale=0.1",
            "bias_init=like_weights",
            "dtype=float64",
        ],
        {
            "epochs": 6,
            "loss": "mse",
            "optimizer": "nesterov",
            "lr": 2,
            "batch_size": "full",
            "init": "normal",
            "init_scale": 0.1,
            "bias_init": "like_weights",
            "dtype": "float64",
        },
    ),
}


@pytest.mark.parametrize("case", SAME_SETTINGS)
def test_fit_is_the_run_of_the_same_settings(compose_config, digits, tmp_path, case) -> None:
    """``fit`` on the rows a ``data=digits`` run splits, with its settings: its validation split is the run's (the
    same rows in the same order), so every epoch's metrics, the kept weights and the test accuracy are the run's,
    exactly. The run goes through ``nnexp.training.execute``, as ``python -m nnexp.run`` runs it."""
    overrides, params = SAME_SETTINGS[case]
    settings = settings_of(compose_config(["data=digits", "save_model=true", *overrides]))
    estimator = MLPClassifier(**{"batch_size": 16, "val_size": 0.15} | params)
    spec = RunSpec.from_settings(settings)
    training = checked(estimator.get_params(), spec.n_classes)
    names = {field.name for field in dataclasses.fields(Training)} - {"val_size", "split_seed", "blas_threads"}
    assert all(getattr(training, name) == getattr(spec, name) for name in names)  # network, method, epochs, seed ...
    assert (training.val_size, training.split_seed) == (spec.data.val_size, spec.data.split_seed)
    assert training.blas_threads == (spec.blas_threads or 1)  # a run's BLAS threads outside SLURM

    summary = execute(settings, tmp_path)
    binary = settings.task.value == "one_vs_all"
    y, y_test = (digits["y"] == 3, digits["y_test"] == 3) if binary else (digits["y"], digits["y_test"])
    estimator.fit(digits["x"], y)

    assert (estimator.n_iter_, estimator.kept_epoch_) == (summary.epochs_completed, summary.kept_epoch)
    assert estimator.stop_reason_ == summary.stop_reason and estimator.status_ == summary.status
    run_rows = read_epoch_rows(tmp_path / "metrics.csv", summary.epochs_completed)
    timing = ["epoch_seconds", "eval_seconds"]
    compared = estimator.history_.drop(columns=timing)
    assert set(compared.columns) == set(run_rows[0]) - {*timing, "test_loss", "test_acc"}
    for column in compared.columns:  # exactly (NaN where the run has NaN: a sigmoid layer has no dead units)
        np.testing.assert_array_equal(compared[column], [row[column] for row in run_rows], err_msg=column)
    run_model, _, _ = load_model(tmp_path / "model.npz")
    assert len(run_model.params) == len(estimator.model_.params)
    for ours, theirs in zip(estimator.model_.params, run_model.params):
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)
    assert estimator.score(digits["x_test"], y_test) == summary.test_acc
    if case == "adam_early_stopping":
        assert summary.kept_epoch < summary.epochs_completed < 12  # it did stop early


def test_epochs_of_partial_fit_are_a_fit(digits) -> None:
    """``epochs`` calls of partial_fit on the same rows (pickled between calls) train as ``fit`` without a
    validation split: the optimizer's state, the schedule and the generators go on from call to call."""
    params = {"optimizer": "adam", "lr_schedule": "cosine", "dropout": 0.2, "weight_decay": 1e-4, "epochs": 4}
    x, y = digits["x"][:600], digits["y"][:600]
    fitted = MLPClassifier(**params).fit(x, y)
    stepped = MLPClassifier(**params)
    for _ in range(4):
        stepped = pickle.loads(pickle.dumps(stepped.partial_fit(x, y, classes=np.arange(10))))
    assert stepped.history_.drop(columns=["epoch_seconds", "eval_seconds"]).equals(
        fitted.history_.drop(columns=["epoch_seconds", "eval_seconds"])
    )
    assert all(np.array_equal(a, b) for a, b in zip(stepped.model_.params, fitted.model_.params))
    assert stepped.history_["learning_rate"].is_monotonic_decreasing  # cosine over the 4 planned epochs
    fitted.partial_fit(x, y)  # after fit: one more epoch from its weights
    assert fitted.n_iter_ == 5 and fitted.history_["epoch"].tolist() == [1, 2, 3, 4, 5]


def test_partial_fit_asks_for_the_classes_and_keeps_them(digits) -> None:
    x, y = digits["x"][:200], digits["y"][:200]
    estimator = MLPClassifier()
    with pytest.raises(ValueError, match="classes must be passed on the first call to partial_fit"):
        estimator.partial_fit(x, y)
    estimator.partial_fit(x[y < 5], y[y < 5], classes=np.arange(10))  # a batch need not hold every class
    assert estimator.classes_.tolist() == list(range(10)) and estimator.model_.layer_sizes[-1] == 10
    with pytest.raises(ValueError, match=r"classes=\[0, 1\] is not the \[0, 1, .*, 9\] of the first call"):
        estimator.partial_fit(x, y, classes=[0, 1])
    with pytest.raises(ValueError, match=r"y holds labels \[10\] not in classes_"):
        estimator.partial_fit(x, y + 1)
    with pytest.raises(ValueError, match="X has 63 features, but MLPClassifier is expecting 64"):
        estimator.partial_fit(x[:, 1:], y)


def test_labels_of_any_kind_and_two_classes_with_one_sigmoid_unit(digits) -> None:
    x, words = digits["x"], np.where(digits["y"] == 3, "three", "other")
    estimator = MLPClassifier(hidden=32, batch_size=16).fit(x, words)
    assert estimator.classes_.tolist() == ["other", "three"] and estimator.model_.layer_sizes[-1] == 1
    proba = estimator.predict_proba(digits["x_test"])
    assert proba.shape == (len(digits["x_test"]), 2) and np.allclose(proba.sum(axis=1), 1.0)
    predicted = estimator.predict(digits["x_test"])
    assert set(predicted) == {"other", "three"} and (estimator.classes_[proba.argmax(axis=1)] == predicted).all()
    assert estimator.score(digits["x_test"], np.where(digits["y_test"] == 3, "three", "other")) > 0.95
    sigmoid = MLPClassifier(hidden=32, batch_size=16, output="sigmoid").fit(x, words)  # moot: one unit either way
    assert all(np.array_equal(a, b) for a, b in zip(sigmoid.model_.params, estimator.model_.params))


def test_sigmoid_units_give_probabilities_in_the_order_of_their_outputs(digits) -> None:
    estimator = MLPClassifier(output="sigmoid", hidden=32, batch_size=16).fit(digits["x"], digits["y"])
    proba = estimator.predict_proba(digits["x_test"])
    assert np.allclose(proba.sum(axis=1), 1.0) and (proba.argmax(axis=1) == estimator.predict(digits["x_test"])).all()


def test_divergence_is_a_warning_and_a_status(digits) -> None:
    estimator = MLPClassifier(lr=1e6, activation="relu", hidden=[32, 32, 32], diagnostics=False)
    with pytest.warns(ConvergenceWarning, match="training diverged at epoch"):
        estimator.fit(digits["x"], digits["y"])
    assert estimator.status_ == "diverged" and estimator.n_iter_ < 10
    assert not np.isfinite(estimator.loss_curve_[-1])


def test_the_parameters_are_the_run_settings_with_their_defaults() -> None:
    """One parameter for every setting of every optimizer and schedule (a new one needs its parameter), the top-level
    settings with the schema's defaults; ``lr`` None is each optimizer group's rate."""
    params = MLPClassifier().get_params()
    named = {*RUN_SETTINGS, *OPTIMIZER_SETTINGS, *SCHEDULE_SETTINGS, *EARLY_STOPPING}
    assert set(params) == named | {"optimizer", "lr_schedule", "lr", "val_size", "split_seed", "random_state"}
    assert set(OPTIMIZER_SETTINGS) == {key for kind in OPTIMIZERS.values() for key in kind.SETTINGS}
    assert set(SCHEDULE_SETTINGS) == {key for kind in SCHEDULES.values() for key in kind.settings}
    schema = Config()

    def plain(value: object) -> object:
        return getattr(value, "value", value)

    for key in RUN_SETTINGS:
        assert params[key] == plain(getattr(schema, key)), key
    for key, setting in EARLY_STOPPING.items():
        assert params[key] == plain(getattr(EarlyStoppingConfig(), setting)), key
    assert (params["optimizer"], params["lr_schedule"]) == (schema.optimizer.name.value, schema.lr_schedule.name.value)
    assert (params["split_seed"], params["random_state"]) == (schema.data.split_seed, schema.seed)
    assert all(params[key] is None for key in (*OPTIMIZER_SETTINGS, *SCHEDULE_SETTINGS, "lr", "val_size"))
    for name, kind in OPTIMIZERS.items():
        lr = checked(MLPClassifier(optimizer=name).get_params(), 10).method.lr
        assert lr == (schema.lr if kind.LR is None else kind.LR), name


@pytest.mark.parametrize(
    "params, message",
    [
        ({"activation": "softsign"}, r"activation: Invalid value 'softsign', expected one of \[gelu, "),
        ({"epochs": 1.5}, r"epochs: Value '1.5' of type 'float' could not be converted to Integer"),
        ({"hidden": 0}, r"hidden=0 is invalid; allowed: a positive int or a list of positive ints"),
        ({"batch_size": 0}, r"batch_size=0 is invalid; allowed: an int >= 1 \(1 = pure SGD\) or 'full'"),
        ({"weight_decay": -0.1}, r"weight_decay=-0.1 is invalid; allowed: a finite number >= 0 \(0: off\)"),
        ({"dropout": 1}, r"dropout=1.0 is invalid; allowed: a probability in \[0, 1\)"),
        ({"optimizer": "adam", "beta1": 1.0}, r"optimizer.beta1=1.0 is invalid; allowed: a number in \[0, 1\)"),
        ({"momentum": 0.9}, r"optimizer.momentum=0.9 belongs to optimizer=momentum/nesterov; optimizer=sgd takes no"),
        ({"lr_schedule": "cosine", "eta_min": 0.5}, r"lr_schedule.eta_min=0.5 is invalid; allowed: .* below lr=0.1"),
        ({"loss": "mse"}, r"loss=mse is invalid; allowed: cross_entropy with output=softmax"),
        ({"patience": -1}, r"early_stopping.patience=-1 is invalid; allowed: an int >= 0"),
        ({"patience": 2}, r"early_stopping.patience=2 watches a validation split, and val_size=None holds none out"),
        ({"val_size": 1.5}, r"data.val_size=1.5 is invalid; allowed: a fraction in \(0, 1\) or a count >= 1"),
        ({"val_size": 200}, r"data.val_size=200.0 gives 200 validation images out of 100; allowed: a fraction"),
        ({"random_state": -1}, r"seed=-1 is invalid; allowed: an int >= 0"),
        ({"blas_threads": 0}, r"blas_threads=0 is invalid; allowed: null \(the launcher's cpus_per_task\) or an int"),
    ],
)
def test_bad_values_get_nnexps_one_line_in_fit(digits, params, message) -> None:
    estimator = MLPClassifier(**params)  # scikit-learn's way: nothing is checked before fit
    with pytest.raises(ConfigError, match=message) as info:
        estimator.fit(digits["x"][:100], digits["y"][:100])
    assert "\n" not in str(info.value)


def test_a_pipeline_in_a_grid_search_with_numpy_values(digits) -> None:
    x, y = digits["x"][:600] * 16, digits["y"][:600]  # raw pixels: the pipeline scales them
    pipeline = make_pipeline(MinMaxScaler(), MLPClassifier(batch_size=16, epochs=10))
    grid = {"mlpclassifier__lr": np.array([0.1, 0.5]), "mlpclassifier__hidden": [np.int64(32), (32, 16)]}
    search = GridSearchCV(pipeline, grid, cv=3).fit(x, y)
    assert len(search.cv_results_["params"]) == 4 and search.best_score_ > 0.85
    assert search.score(digits["x_test"] * 16, digits["y_test"]) > 0.85


def readme_example() -> str:
    """The Python block of the README's section "In scikit-learn"."""
    section = (ROOT / "README.md").read_text().split("\n## In scikit-learn\n", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    return block


def test_the_readme_example_runs() -> None:
    namespace: dict = {}
    exec(compile(readme_example(), "README.md (In scikit-learn)", "exec"), namespace)
    assert namespace["search"].best_score_ > 0.9


def test_the_estimator_is_exported_lazily() -> None:
    assert nnexp.MLPClassifier is MLPClassifier and "MLPClassifier" in dir(nnexp)
    with pytest.raises(AttributeError, match="module 'nnexp' has no attribute 'Missing'"):
        nnexp.Missing  # noqa: B018


@pytest.mark.slow
def test_import_nnexp_does_not_import_scikit_learn() -> None:
    probe = "import sys, nnexp; print('sklearn' in sys.modules); nnexp.MLPClassifier; print('sklearn' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["False", "True"]
