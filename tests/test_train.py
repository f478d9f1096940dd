"""The training loop and a whole run: determinism, batch modes, divergence, files written."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest

from nnexp.data import DataConfig, load_dataset
from nnexp.errors import ConfigError
from nnexp.model import MLP
from nnexp.model.blas import fused_update_available
from nnexp.report.runs import METRICS_DEFINITION_COLUMN
from nnexp.results import EPOCH_COLUMNS, OUTCOME_COLUMNS, read_summary
from nnexp.training import Method, Stepper, execute, train
from tests.conftest import MNIST_5K, settings_of


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataConfig(name="digits", loader="digits"))


def _train(
    data, seed=0, epochs=3, batch_size=32, lr=0.1, activation="tanh", dtype=np.float32, hidden=(16,), dropout=0.0
):
    model = MLP.initialise([64, *hidden, 10], activation, "xavier", np.random.default_rng(seed), dtype)
    rows = []
    result = train(
        model,
        data,
        epochs=epochs,
        batch_size=batch_size,
        method=Method(lr=lr, dropout=dropout),
        rng=np.random.default_rng(seed + 1),
        on_epoch=rows.append,
    )
    return model, rows, result


def _descend(model: MLP, x: np.ndarray, y: np.ndarray, lr: float, masks=None) -> None:
    """One step of gradient descent by hand: every parameter minus lr times its gradient, formed."""
    _, grad_w, grad_b = model.loss_and_gradients(x, y, masks=masks)
    for param, grad in zip(model.params, [*grad_w, *grad_b]):
        param -= lr * grad


def test_same_seed_same_weights_and_metrics(digits) -> None:
    first, rows_a, _ = _train(digits, seed=3)
    again, rows_b, _ = _train(digits, seed=3)
    other, _, _ = _train(digits, seed=4)
    for w_a, w_b, w_c in zip(first.weights, again.weights, other.weights):
        np.testing.assert_array_equal(w_a, w_b)
        assert not np.array_equal(w_a, w_c)
    drop = ("epoch_seconds", "eval_seconds")
    assert [{k: v for k, v in r.items() if k not in drop} for r in rows_a] == [
        {k: v for k, v in r.items() if k not in drop} for r in rows_b
    ]


def test_rows_have_every_column_and_learning_happens(digits) -> None:
    _, rows, result = _train(digits, epochs=4)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert all(set(r) == set(EPOCH_COLUMNS) for r in rows)
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert rows[-1]["val_acc"] > 0.8
    assert result.status == "completed" and result.samples_seen == 4 * len(digits.y_train)
    assert result.train_seconds == pytest.approx(sum(r["epoch_seconds"] for r in rows))


def test_full_batch_is_one_gradient_step_per_epoch(digits) -> None:
    model, _, _ = _train(digits, epochs=2, batch_size=None, lr=0.5, dtype=np.float64)
    manual = MLP.initialise([64, 16, 10], "tanh", "xavier", np.random.default_rng(0), np.float64)
    x = digits.x_train.astype(np.float64)
    for _ in range(2):
        _descend(manual, x, digits.y_train, 0.5)
    for w_loop, w_manual in zip(model.weights, manual.weights):
        np.testing.assert_allclose(w_loop, w_manual, rtol=1e-12)


def test_full_batch_training_metrics_are_those_of_the_weights_at_the_end_of_each_epoch(digits) -> None:
    model = MLP.initialise([64, 16, 10], "tanh", "xavier", np.random.default_rng(0), np.float32)
    rows, evaluated = [], []

    def on_epoch(row: dict) -> None:  # called with the weights at the end of the row's epoch
        rows.append(row)
        penalty = 0.005 * sum(float(np.vdot(w, w)) for w in model.weights)
        loss, acc = model.evaluate(digits.x_train, digits.y_train)
        evaluated.append((loss + penalty, acc))

    method = Method(lr=0.5, weight_decay=0.01)
    train(model, digits, epochs=4, batch_size=None, method=method, rng=np.random.default_rng(1), on_epoch=on_epoch)
    assert len(rows) == 4 and len({row["train_loss"] for row in rows}) == 4
    for row, (loss, acc) in zip(rows, evaluated):
        # the same weights, another order of float32 sums (one matrix on the caller's threads against chunks on one
        # thread): the logits differ in their last bits, the mean loss by a few float32 epsilons
        assert row["train_loss"] == pytest.approx(loss, rel=1e-5)
        # a prediction can flip only where two logits tie to float32 precision: at most one sample here
        assert abs(row["train_acc"] - acc) <= 1 / len(digits.y_train)


@pytest.mark.parametrize(("batch_size", "dropout"), [(32, 0.0), (32, 0.3), (None, 0.3)])
def test_training_metrics_of_a_shuffled_or_masked_pass_are_those_before_each_update(
    digits, batch_size: int | None, dropout: float
) -> None:
    """Mini-batches (the last one smaller), and full batch with dropout (whose forward pass, masked, cannot serve
    for the metrics of the weights after the step)."""
    small = load_dataset(DataConfig(name="digits", loader="digits", train_limit=70))
    model = MLP.initialise([64, 16, 10], "tanh", "xavier", np.random.default_rng(0), np.float64)
    manual = MLP([w.copy() for w in model.weights], [b.copy() for b in model.biases], "tanh")
    rows: list[dict] = []
    method = Method(lr=0.3, dropout=dropout)
    shuffle, masks_rng = np.random.default_rng(1), np.random.default_rng(2)
    train(
        model,
        small,
        epochs=2,
        batch_size=batch_size,
        method=method,
        rng=shuffle,
        dropout_rng=masks_rng,
        on_epoch=rows.append,
    )
    # the same steps by hand: each batch's loss and hits counted on its logits before its update, masked as trained
    x, y, keep = small.x_train.astype(np.float64), small.y_train, 1 - dropout
    rows_a_step = batch_size or len(y)
    shuffle, masks_rng, ws = np.random.default_rng(1), np.random.default_rng(2), manual.workspace(rows_a_step)
    for row in rows:
        order, loss_sum, hits = shuffle.permutation(len(y)) if batch_size else np.arange(len(y)), 0.0, 0
        for begin in range(0, len(y), rows_a_step):
            xb, yb = x[order[begin : begin + rows_a_step]], y[order[begin : begin + rows_a_step]]
            masks = [(masks_rng.random((len(yb), 16)) < keep) / keep] if dropout else None
            acts = manual.forward(xb, ws, masks)
            loss_sum += manual.output.loss_sum(acts[-1], yb)
            hits += int(np.count_nonzero(acts[-1].argmax(axis=1) == yb))
            _descend(manual, xb, yb, 0.3, masks)
        assert row["train_loss"] == pytest.approx(loss_sum / len(y), rel=1e-12)
        assert row["train_acc"] == hits / len(y)
        assert row["val_loss"] == pytest.approx(manual.evaluate(small.x_val, small.y_val)[0], rel=1e-12)
    np.testing.assert_allclose(model.weights[0], manual.weights[0], rtol=1e-12)


@pytest.mark.parametrize(
    ("optimizer", "weight_decay", "formed"), [("sgd", 0.0, False), ("sgd", 0.01, True), ("momentum", 0.0, True)]
)
def test_plain_sgd_trains_without_forming_a_weight_gradient(optimizer: str, weight_decay: float, formed: bool) -> None:
    """Plain SGD subtracts each weight gradient inside its BLAS call: a training step leaves the workspace's gradient
    arrays as they were; with weight decay, or another optimizer, the gradients are formed there."""
    if not fused_update_available(np.float32):
        pytest.skip("this NumPy's BLAS cannot be called for the update here (the NumPy fallback forms the gradient)")
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 6), dtype=np.float32), rng.integers(0, 4, 8)
    model = MLP.initialise([6, 5, 4], "tanh", "xavier", rng)
    stepper = Stepper([model], [Method(lr=0.1, optimizer=optimizer, weight_decay=weight_decay)], 8, [rng])
    workspace = stepper.ws.members[0]
    for grad in workspace.grad_w:
        grad.fill(np.nan)
    before = [w.copy() for w in model.weights]
    stepper.step(x, [y], [0.1])
    assert [bool(np.isnan(grad).all()) for grad in workspace.grad_w] == [not formed] * 2
    assert all(np.isfinite(w).all() and not np.array_equal(w, w0) for w, w0 in zip(model.weights, before))


def test_pure_sgd_steps_once_per_image_in_the_shuffled_order(digits) -> None:
    small = load_dataset(DataConfig(name="digits", loader="digits", train_limit=40))
    model, _, result = _train(small, epochs=2, batch_size=1, dtype=np.float64)
    manual = MLP.initialise([64, 16, 10], "tanh", "xavier", np.random.default_rng(0), np.float64)
    shuffle = np.random.default_rng(1)  # _train's generators: seed, seed + 1
    x = small.x_train.astype(np.float64)
    for _ in range(2):
        for i in shuffle.permutation(len(small.y_train)):
            _descend(manual, x[i : i + 1], small.y_train[i : i + 1], 0.1)
    assert result.samples_seen == 2 * 40
    for w_loop, w_manual in zip(model.weights, manual.weights):
        np.testing.assert_allclose(w_loop, w_manual, rtol=1e-12)


def test_a_batch_larger_than_the_set_is_full_batch_gradient_descent(digits) -> None:
    small = load_dataset(DataConfig(name="digits", loader="digits", train_limit=40))
    clipped, rows_clipped, _ = _train(small, epochs=2, batch_size=10_000)
    full, rows_full, _ = _train(small, epochs=2, batch_size=None)
    for w_clipped, w_full in zip(clipped.weights, full.weights):
        np.testing.assert_array_equal(w_clipped, w_full)
    drop = ("epoch_seconds", "eval_seconds")
    assert [{k: v for k, v in r.items() if k not in drop} for r in rows_clipped] == [
        {k: v for k, v in r.items() if k not in drop} for r in rows_full
    ]
    halves, _, _ = _train(small, epochs=2, batch_size=20)  # two steps an epoch: another descent
    assert not np.array_equal(halves.weights[0], full.weights[0])


def test_weights_that_overflow_in_the_last_step_of_an_epoch_are_divergence(digits) -> None:
    # full batch with dropout: the epoch's one training pass sees the finite weights before the step, so its training
    # loss is finite; the step (lr 1e45, beyond float32) takes the weights past float32's limit, and only the
    # validation loss shows it
    _, rows, result = _train(digits, epochs=3, batch_size=None, lr=1e45, dropout=0.1)
    assert result.status == "diverged" and result.epochs_completed == len(rows) == 1
    assert np.isfinite(rows[0]["train_loss"]) and not np.isfinite(rows[0]["val_loss"])


def test_divergence_is_a_status_not_a_crash(digits) -> None:
    # softmax gradients are bounded, so it takes depth for the loss to overflow
    _, rows, result = _train(digits, epochs=10, lr=1e6, activation="relu", hidden=(32, 32, 32))
    assert result.status == "diverged"
    assert result.epochs_completed == len(rows) < 10
    assert not np.isfinite(rows[-1]["train_loss"])


def test_a_runs_network_starts_with_the_biases_its_settings_name(compose_config) -> None:
    """``bias_init`` reaches the run's network: like_weights draws biases of its weights' spread, the weights stay
    those of the default (zero biases) for the same seed."""
    from nnexp.training.seeding import seeded_start
    from nnexp.training.spec import RunSpec

    common = ["data=digits", "hidden=[300,200]", "init=normal", "init_scale=0.1", "seed=3"]
    zeros, _, _ = seeded_start(RunSpec.from_settings(settings_of(compose_config(common))), 64, 10)
    spec = RunSpec.from_settings(settings_of(compose_config([*common, "bias_init=like_weights"])))
    drawn, _, _ = seeded_start(spec, 64, 10)
    assert spec.bias_init == "like_weights" and all(not b.any() for b in zeros.biases)
    for w_zeros, w_drawn in zip(zeros.weights, drawn.weights):
        np.testing.assert_array_equal(w_zeros, w_drawn)
    assert drawn.biases[0].std() == pytest.approx(0.1, rel=0.15)  # 300 draws: relative SE 4%
    assert drawn.biases[1].std() == pytest.approx(0.1, rel=0.15)  # 200 draws: 5%


def test_run_writes_flushed_metrics_csv_and_summary(compose_config, tmp_path, monkeypatch) -> None:
    cfg = compose_config(["data=digits", "epochs=3", "hidden=[16,8]", "activation=leaky_relu", "seed=5"])
    seen_rows = []
    import nnexp.training.job as run_module

    real_train = run_module.train_pack

    def spying_train(members, *args, **kwargs):
        (member,) = members
        on_epoch = member.on_epoch

        def check(row):
            on_epoch(row)  # the run's writer: the row must be on disk as soon as it returns
            with open(tmp_path / "metrics.csv") as handle:
                seen_rows.append(len(list(csv.DictReader(handle))))

        member.on_epoch = check
        return real_train(members, *args, **kwargs)

    monkeypatch.setattr(run_module, "train_pack", spying_train)
    summary = execute(settings_of(cfg), tmp_path)
    assert seen_rows == [1, 2, 3]
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    diagnostics = [
        "h1_saturated",
        "h1_dead",
        "h2_saturated",
        "h2_dead",
        "w1_norm",
        "grad1_norm",
        "w2_norm",
        "grad2_norm",
        "w3_norm",
        "grad3_norm",
    ]
    assert list(metrics.columns) == [*EPOCH_COLUMNS, *diagnostics] and len(metrics) == 3
    assert metrics["h1_saturated"].isna().all()  # leaky ReLU does not saturate
    assert metrics[["h1_dead", "h2_dead"]].apply(lambda c: c.between(0, 1)).all().all()
    assert (metrics[[c for c in diagnostics if c.endswith("_norm")]] > 0).all().all()
    on_disk = read_summary(tmp_path / "summary.json")
    assert on_disk["status"] == "completed" and on_disk["epochs_completed"] == 3
    assert on_disk["test_acc"] == pytest.approx(metrics["test_acc"].iloc[-1])
    assert on_disk["best_val_acc"] == pytest.approx(metrics["val_acc"].max())
    assert on_disk["train_seconds"] == pytest.approx(metrics["epoch_seconds"].sum())
    assert on_disk["layer_sizes"] == [64, 16, 8, 10]
    assert on_disk["n_params"] == 64 * 16 + 16 + 16 * 8 + 8 + 8 * 10 + 10
    assert on_disk["config"]["activation"] == "leaky_relu" and on_disk["config"]["seed"] == 5
    assert summary.test_acc == on_disk["test_acc"]
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("overrides", [[], ["data.val_size=1e9"]], ids=["completed", "failed"])
def test_summary_outcomes_are_known_to_the_report(compose_config, tmp_path, overrides) -> None:
    settings = settings_of(compose_config(["data=digits", "epochs=1", *overrides]))
    if overrides:  # the failed run raises after recording its failure
        with pytest.raises(ConfigError, match=r"data\.val_size=1000000000\.0 gives"):
            execute(settings, tmp_path)
    else:
        execute(settings, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == ("failed" if overrides else "completed")
    scalars = {k for k, v in summary.items() if not isinstance(v, (dict, list))}
    known = {*OUTCOME_COLUMNS, METRICS_DEFINITION_COLUMN}  # the one scalar the report reads as a config column
    assert scalars <= known, scalars - known


def test_diverged_run_is_recorded_with_nan_loss(compose_config, tmp_path) -> None:
    summary = execute(
        settings_of(compose_config(["data=digits", "epochs=5", "lr=1e6", "activation=relu", "hidden=[32,32,32]"])),
        tmp_path,
    )
    assert summary.status == "diverged"
    assert read_summary(tmp_path / "summary.json")["status"] == "diverged"
    assert np.isnan(read_summary(tmp_path / "summary.json")["train_loss"])


@pytest.mark.skipif(not MNIST_5K.is_dir(), reason="../shared/data/mnist-5k is absent")
def test_one_hidden_layer_learns_mnist_5k_to_90_percent(compose_config, tmp_path) -> None:
    cfg = compose_config(
        [
            f"data.root={MNIST_5K}",
            "activation=relu",
            "init=he",
            "hidden=128",
            "lr=0.1",
            "batch_size=32",
            "epochs=8",
            "seed=0",
        ]
    )
    summary = execute(settings_of(cfg), tmp_path)
    assert summary.n_train == 4500 and summary.n_test == 10000
    assert summary.test_acc >= 0.90, summary.test_acc


def test_float32_fast_path_follows_the_float64_path(digits) -> None:
    """The float32 trainer (buffers, the update inside the BLAS call) takes the same steps as float64, to float
    precision."""
    single, _, _ = _train(digits, seed=2, epochs=2, batch_size=16, activation="sigmoid", dtype=np.float32)
    double, _, _ = _train(digits, seed=2, epochs=2, batch_size=16, activation="sigmoid", dtype=np.float64)
    start = MLP.initialise([64, 16, 10], "sigmoid", "xavier", np.random.default_rng(2), np.float64)
    moved = 0.0
    for w32, w64, w0 in zip(
        single.weights + single.biases, double.weights + double.biases, start.weights + start.biases
    ):
        np.testing.assert_allclose(w32, w64, rtol=0, atol=2e-4)
        moved = max(moved, float(np.abs(w64 - w0).max()))
    assert moved > 0.05  # training moved the parameters far more than the float32/float64 difference
