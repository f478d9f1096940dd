"""The training methods as a user sets them: optimizers, schedules, weight decay, dropout, early stopping,
sigmoid outputs; their one-line errors; and what a run records of them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from nnexp.data import DataConfig, load_dataset
from nnexp.errors import ConfigError, DataFileError
from nnexp.model import MLP
from nnexp.results import read_summary
from nnexp.training import Method, RunSpec, execute, train
from tests.conftest import settings_of


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataConfig(name="digits", loader="digits"))


def _train(data, method: Method, epochs: int = 6, seed: int = 0, output: str = "softmax", loss: str = "cross_entropy"):
    model = MLP.initialise(
        [64, 16, 10], "tanh", "xavier", np.random.default_rng(seed), np.float64, loss=loss, output=output
    )
    rows: list[dict] = []
    result = train(
        model,
        data,
        epochs=epochs,
        batch_size=32,
        method=method,
        rng=np.random.default_rng(seed + 1),
        on_epoch=rows.append,
    )
    return model, rows, result


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam", "rmsprop"])
def test_every_optimizer_learns(digits, optimizer: str) -> None:
    lr = 0.1 if optimizer in ("sgd", "momentum", "nesterov") else 0.005
    _, rows, _ = _train(digits, Method(lr=lr, optimizer=optimizer))
    assert rows[-1]["train_loss"] < 0.5 * rows[0]["train_loss"] and rows[-1]["val_acc"] > 0.85


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_sigmoid_outputs_learn_ten_classes(digits, loss: str) -> None:
    _, rows, _ = _train(digits, Method(lr=0.5), epochs=8, output="sigmoid", loss=loss)
    assert rows[-1]["val_acc"] > 0.85


def test_schedules_set_each_epochs_rate(digits) -> None:
    method = Method(lr=0.2, lr_schedule="step", schedule_settings={"step_size": 2, "gamma": 0.5})
    _, rows, _ = _train(digits, method, epochs=5)
    assert [row["learning_rate"] for row in rows] == [0.2, 0.2, 0.1, 0.1, 0.05]
    cosine = Method(lr=0.2, lr_schedule="cosine", schedule_settings={"t_max": None, "eta_min": 0.0})
    assert [cosine.learning_rate(e, 4) for e in (1, 3)] == pytest.approx([0.2, 0.1])


def test_weight_decay_is_in_the_reported_loss_and_shrinks_the_weights(digits) -> None:
    plain, _, _ = _train(digits, Method(lr=0.1))
    decayed, rows_decayed, _ = _train(digits, Method(lr=0.1, weight_decay=0.01))
    norm = sum(float((w**2).sum()) for w in decayed.weights)
    assert norm < sum(float((w**2).sum()) for w in plain.weights)
    data_loss = decayed.evaluate(digits.x_val, digits.y_val)[0]
    assert rows_decayed[-1]["val_loss"] == pytest.approx(data_loss + 0.005 * norm, rel=1e-9)


def test_dropout_is_seeded_and_off_at_evaluation(digits) -> None:
    method = Method(lr=0.1, dropout=0.3)
    first, rows_a, _ = _train(digits, method)
    _, rows_b, _ = _train(digits, method)
    timings = ("epoch_seconds", "eval_seconds")
    assert [{k: v for k, v in row.items() if k not in timings} for row in rows_a] == [
        {k: v for k, v in row.items() if k not in timings} for row in rows_b
    ]
    plain, _, _ = _train(digits, Method(lr=0.1))
    assert not np.array_equal(first.weights[0], plain.weights[0])
    # evaluation draws no masks: the reported validation loss is that of the whole network (a masked one would
    # differ); the training metrics are the training pass's, masked (tests/test_train.py)
    assert rows_a[-1]["val_loss"] == pytest.approx(first.evaluate(digits.x_val, digits.y_val)[0], rel=1e-12)
    assert rows_a[-1]["val_acc"] > 0.85


def test_early_stopping_stops_and_keeps_the_best_epoch(digits) -> None:
    # a large learning rate makes the validation loss wander: it stops improving early
    method = Method(lr=2.0, patience=2, stop_metric="val_loss")
    model, rows, result = _train(digits, method, epochs=30)
    assert result.stop_reason == "val_loss did not improve by more than 0 for 2 epochs"
    best = min(rows, key=lambda row: row["val_loss"])
    assert result.kept_epoch == best["epoch"] and result.epochs_completed == best["epoch"] + 2 < 30
    assert model.evaluate(digits.x_val, digits.y_val)[0] == pytest.approx(best["val_loss"], rel=1e-12)


def test_a_run_records_how_it_stopped(compose_config, tmp_path) -> None:
    overrides = ["data=digits", "epochs=30", "lr=3", "early_stopping.patience=2", "early_stopping.metric=val_acc"]
    summary = execute(settings_of(compose_config(overrides)), tmp_path)
    curve = pd.read_csv(tmp_path / "metrics.csv")
    assert summary.stop_reason.startswith("val_acc did not improve") and summary.epochs_completed < 30
    kept = curve[curve["epoch"] == summary.kept_epoch].iloc[0]
    assert summary.val_acc == kept["val_acc"] == curve["val_acc"].max()
    assert read_summary(tmp_path / "summary.json")["kept_epoch"] == summary.kept_epoch


def test_an_explicit_default_is_the_same_configuration(compose_config) -> None:
    def fingerprint(*overrides: str) -> str:
        return RunSpec.from_settings(settings_of(compose_config(["data=digits", *overrides]))).fingerprint

    assert fingerprint("optimizer=adam") == fingerprint("optimizer=adam", "optimizer.beta1=0.9")
    assert fingerprint("optimizer=adam") != fingerprint("optimizer=adam", "optimizer.beta1=0.8")
    assert fingerprint("lr_schedule=step") == fingerprint("lr_schedule=step", "lr_schedule.gamma=0.5")


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["weight_decay=-0.1"], r"weight_decay=-0.1 is invalid; allowed: a finite number >= 0 \(0: off\)"),
        (["dropout=1"], r"dropout=1.0 is invalid; allowed: a probability in \[0, 1\)"),
        (["optimizer=adam", "optimizer.beta1=1.0"], r"optimizer.beta1=1.0 is invalid; allowed: a number in \[0, 1\)"),
        (["optimizer=adam", "optimizer.beta2=-0.5"], r"optimizer.beta2=-0.5 is invalid"),
        (["optimizer=rmsprop", "optimizer.eps=0"], r"optimizer.eps=0.0 is invalid; allowed: a finite number > 0"),
        (["early_stopping.patience=-1"], r"early_stopping.patience=-1 is invalid; allowed: an int >= 0"),
        (["lr_schedule=step", "lr_schedule.step_size=0"], r"lr_schedule.step_size=0 is invalid; allowed: an int >= 1"),
        (["lr_schedule=exponential", "lr_schedule.gamma=1.5"], r"lr_schedule.gamma=1.5 is invalid"),
        (
            ["lr_schedule=cosine", "lr_schedule.eta_min=0.5"],
            r"lr_schedule.eta_min=0.5 is invalid; allowed: .* below lr",
        ),
        (["task=one_vs_all", "output=sigmoid"], r"output=sigmoid is invalid; allowed: softmax \(task=one_vs_all"),
        (["loss=mse"], r"loss=mse is invalid; allowed: cross_entropy with output=softmax \(mse needs output=sigmoid\)"),
        (
            ["optimizer.momentum=0.9"],
            r"optimizer.momentum=0.9 belongs to optimizer=momentum/nesterov; "
            r"optimizer=sgd takes no settings",
        ),
        (
            ["optimizer=adam", "optimizer.alpha=0.9"],
            r"optimizer.alpha=0.9 belongs to optimizer=rmsprop; optimizer=adam "
            r"takes optimizer.beta1, optimizer.beta2, optimizer.eps",
        ),
        (["lr_schedule.gamma=0.5"], r"lr_schedule.gamma=0.5 belongs to lr_schedule=exponential/step"),
    ],
)
def test_bad_method_values_get_one_line(compose_config, overrides, message) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        RunSpec.from_settings(settings_of(compose_config(["data=digits", *overrides])))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_a_saved_sigmoid_output_model_predicts_as_trained(compose_config, tmp_path, loss) -> None:
    from nnexp.results.model_file import load_model

    overrides = ["data=digits", "epochs=3", "lr=0.5", "output=sigmoid", f"loss={loss}", "save_model=true"]
    summary = execute(settings_of(compose_config(overrides)), tmp_path)
    model, _, _ = load_model(tmp_path / "model.npz")
    data = load_dataset(DataConfig(name="digits", loader="digits"))
    assert model.output_kind == "sigmoid" and model.output.n_outputs == 10
    with threadpool_limits(limits=2, user_api="blas"):  # not the run's one thread: evaluation pins its own
        loss_value, accuracy = model.evaluate(data.x_test, data.y_test)
    assert accuracy == summary.test_acc and loss_value == summary.test_loss  # exactly: one evaluation path


def test_stopping_on_the_last_epoch_is_not_an_early_stop(digits) -> None:
    method = Method(lr=2.0, patience=2, stop_metric="val_loss")
    stopped = _train(digits, method, epochs=30)[2]
    assert stopped.stop_reason is not None and stopped.epochs_completed < 30
    _, _, result = _train(digits, method, epochs=stopped.epochs_completed)  # the same run, planned that long
    assert result.stop_reason is None and result.kept_epoch == stopped.kept_epoch


def test_labels_beyond_the_class_count_get_one_line_also_from_the_cache(compose_config, tmp_path) -> None:
    execute(settings_of(compose_config(["data=digits", "epochs=1"])), tmp_path / "fills_the_cache")
    with pytest.raises(DataFileError, match=r"digits: train labels 0\.\.9 do not fit data\.n_classes=5; allowed"):
        execute(settings_of(compose_config(["data=digits", "epochs=1", "data.n_classes=5"])), tmp_path / "five")
