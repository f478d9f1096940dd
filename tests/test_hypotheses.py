"""Write-up 000's untried hypotheses (issue 30) as settings: their defaults compute what nnexp computed before them, to
the bit, and each does what it says (summed gradients, the output-layer gradient as printed, a fixed order of the
training images, raw pixels); with packs and checkpoints; the preset a000_hypotheses."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from nnexp.config import Config
from nnexp.data import DataConfig, load_dataset
from nnexp.data.sets.digits import Reader as DigitsReader
from nnexp.data.splits import split_indices
from nnexp.errors import ConfigError
from nnexp.model import MLP
from nnexp.model.blas import one_blas_thread
from nnexp.reproduce.presets import presets
from nnexp.training.checkpoint import CHECKPOINT_FILE, Checkpointer, load_checkpoint
from nnexp.training.loop import Member, Trainer, train, train_pack
from nnexp.training.method import Method, Stepper
from nnexp.training.spec import check_values, config_record, fingerprint
from tests.conftest import settings_of
from tests.test_checkpoint import Interrupted, InterruptingCheckpointer

DIGITS = DataConfig(name="digits", loader="digits", val_size=0.15, cache_arrays=False)
HYPOTHESES = ("full_batch", "summed", "printed", "small_train", "stored", "sorted", "raw")

# What nnexp computed before these settings existed (main at e3994b5): a digest of the final parameters and of every
# epoch's metrics of each case below, trained on one BLAS thread with numpy's BLAS as RECORDED_WITH names it. A BLAS
# that sums in another order (another CPU's kernels, another version) gives other last bits: there the test is
# skipped, saying why; regenerate the digests from that commit with _digest to check it there.
# The three plain-SGD cases were recorded again when SGD's learning rate moved from the output deltas into its
# update's product (ProductGradient.descend), and one sample's update became a BLAS ger: other last bits by design
# (against the arithmetic before, main at 158c657, the parameters moved by at most 1.5e-6 of their largest, the
# metrics by 5.2e-8 relative); Adam's case, untouched, still matches.
RECORDED_WITH = ("openblas", "0.3.31.188.0", "SkylakeX")  # numpy's BLAS: its library, version, kernels
BEFORE = {
    "per_sample_sgd": "94ce10eb435be26f",
    "batch16_adam": "cd07aa9f0f78ca60",
    "full_batch_pack": "d25c5c4e0a6e1b22",
    "raw_limit": "89ba58cb0f4baa49",
}
CASES = {  # batch size, epochs, method, seeds (two: a pack), data settings
    "per_sample_sgd": (1, 2, {}, [0], {}),
    "batch16_adam": (16, 3, {"optimizer": "adam", "lr": 0.001}, [1], {}),
    "full_batch_pack": (None, 20, {"lr": 0.5}, [0, 1], {}),
    "raw_limit": (16, 2, {}, [2], {"scaling": "raw", "train_limit": 300}),
}
METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")


def _digest(case: str, **changes) -> str:
    """The digest of ``case`` (:data:`CASES`), its method changed by ``changes``."""
    batch, epochs, method, seeds, data_settings = CASES[case]
    data = load_dataset(DataConfig(**{**vars(DIGITS), **data_settings}))
    members, rows = [], []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        model = MLP.initialise([data.n_features, 16, 10], "sigmoid", "normal", rng, init_scale=0.1)
        rows.append([])
        members.append(Member(model, Method(**method, **changes), rng, rng.spawn(1)[0], epochs, rows[-1].append))
    with one_blas_thread():
        train_pack(members, data, batch)
    digest = hashlib.sha256()
    for member, epochs_rows in zip(members, rows):
        for param in member.model.params:
            digest.update(param.tobytes())
        for row in epochs_rows:
            digest.update(repr([row[key] for key in METRICS]).encode())
    return digest.hexdigest()[:16]


def _numpys_blas() -> tuple[str, str, str]:
    """numpy's BLAS (threadpoolctl): its library, version and the CPU kernels it chose."""
    with one_blas_thread():  # loads numpy's BLAS, as training does
        blas = [info for info in threadpool_info() if info["user_api"] == "blas" and "numpy" in info["filepath"]]
    return tuple(blas[0].get(key) or "" for key in ("internal_api", "version", "architecture")) if blas else ("",) * 3


@pytest.mark.parametrize("case", CASES)
def test_the_defaults_compute_what_nnexp_computed_before(case) -> None:
    if _numpys_blas() != RECORDED_WITH:
        pytest.skip(f"digests recorded with BLAS {RECORDED_WITH}; numpy's here is {_numpys_blas()}: other last bits")
    assert _digest(case, grad_reduction="mean", output_grad="exact") == BEFORE[case]


def test_a_run_at_the_defaults_keeps_its_fingerprint() -> None:
    """The default configuration's fingerprint of before (main at e3994b5): its finished runs stay finished; another
    value of a new setting is another configuration."""
    assert fingerprint(config_record(Config()), None) == "cd5dd1b72c7e2b6f"
    for key, value in (("grad_reduction", "sum"), ("output_grad", "printed"), ("bias_init", "like_weights")):
        record = config_record(Config()) | {key: value}
        assert fingerprint(record, None) != "cd5dd1b72c7e2b6f"
    record = config_record(Config())
    record["data"]["order"] = "sorted"
    assert fingerprint(record, None) != "cd5dd1b72c7e2b6f"


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DIGITS)


def _network(seed: int = 0, hidden: int = 12, dtype=np.float64) -> MLP:
    return MLP.initialise([64, hidden, 10], "tanh", "normal", np.random.default_rng(seed), dtype, init_scale=0.3)


def _step(model: MLP, x: np.ndarray, y: np.ndarray, method: Method) -> list[np.ndarray]:
    """The parameters after one training step of ``model`` (a copy) on ``x``, ``y``."""
    model = MLP([w.copy() for w in model.weights], [b.copy() for b in model.biases], model.activation)
    Stepper([model], [method], len(x), [np.random.default_rng(0)]).step(x, [y], [method.lr])
    return model.params


@pytest.mark.parametrize("optimizer", ["sgd", "momentum"])
def test_a_summed_step_is_the_batch_size_times_the_mean_step(digits, optimizer) -> None:
    """Plain SGD (its update inside the product) and an optimizer's path (momentum's first step is lr times the
    gradient)."""
    model, x, y = _network(), digits.x_train[:32].astype(np.float64), digits.y_train[:32]
    before = [p.copy() for p in model.params]
    mean = _step(model, x, y, Method(lr=0.05, optimizer=optimizer))
    summed = _step(model, x, y, Method(lr=0.05, optimizer=optimizer, grad_reduction="sum"))
    for start, m, s in zip(before, mean, summed):
        np.testing.assert_allclose(s - start, 32 * (m - start), rtol=1e-9, atol=1e-12)


def _finite_differences(model: MLP, x: np.ndarray, y: np.ndarray, param: np.ndarray, summed: bool) -> np.ndarray:
    """Central differences of the mean (or summed) loss with respect to every entry of ``param``."""
    grad, eps = np.empty_like(param), 1e-6
    for index in np.ndindex(param.shape):
        saved = param[index]
        losses = []
        for value in (saved + eps, saved - eps):
            param[index] = value
            losses.append(model.output.loss_sum(model.logits(x), y) / (1 if summed else len(x)))
        param[index] = saved
        grad[index] = (losses[0] - losses[1]) / (2 * eps)
    return grad


def _gradients(model: MLP, x: np.ndarray, y: np.ndarray, method: Method) -> list[np.ndarray]:
    """The gradients a training step with ``method`` takes (lr 1, plain SGD: the step is minus them)."""
    after = _step(model, x, y, method)
    return [before - a for before, a in zip(model.params, after)]


def test_summed_gradients_are_those_of_the_summed_loss(digits) -> None:
    model, x, y = _network(hidden=5), digits.x_train[:7].astype(np.float64), digits.y_train[:7]
    grads = _gradients(model, x, y, Method(lr=1.0, grad_reduction="sum"))
    for param, grad in zip(model.params, grads):
        np.testing.assert_allclose(grad, _finite_differences(model, x, y, param, summed=True), rtol=1e-5, atol=1e-7)


def test_the_printed_output_gradient_is_the_write_ups_formula_and_the_rest_is_exact(digits) -> None:
    """000 prints dJ/dw_kj = (y_hat - y) z_k: the output's weighted sum z_k, not the input a_j; its bias gradient
    and the hidden layer's stay the true ones (finite differences of the mean loss)."""
    model, x, y = _network(hidden=5), digits.x_train[:7].astype(np.float64), digits.y_train[:7]
    grads = _gradients(model, x, y, Method(lr=1.0, output_grad="printed"))
    z = model.logits(x)
    y_hat = np.exp(z - z.max(axis=1, keepdims=True))
    y_hat /= y_hat.sum(axis=1, keepdims=True)
    delta = y_hat - np.eye(10)[y]
    printed = np.empty_like(model.weights[1])
    for j in range(printed.shape[0]):
        for k in range(printed.shape[1]):
            printed[j, k] = sum(delta[n, k] * z[n, k] for n in range(len(x))) / len(x)
    w1, w2, b1, b2 = grads
    np.testing.assert_allclose(w2, printed, rtol=1e-9, atol=1e-12)
    exact_w2 = _finite_differences(model, x, y, model.weights[1], summed=False)
    assert not np.allclose(w2, exact_w2, atol=1e-3)
    for param, grad in ((model.weights[0], w1), (model.biases[0], b1), (model.biases[1], b2)):
        np.testing.assert_allclose(grad, _finite_differences(model, x, y, param, summed=False), rtol=1e-5, atol=1e-7)


def test_the_printed_gradient_takes_the_same_step_with_sgd_and_another_optimizer(digits) -> None:
    """Plain SGD (the printed output gradient as an array, the first layer's inside its BLAS call) and an optimizer
    that forms every gradient (momentum's first step is lr times the gradient) take the same step."""
    model, x, y = _network(), digits.x_train[:16].astype(np.float64), digits.y_train[:16]
    sgd = _step(model, x, y, Method(lr=0.1, output_grad="printed"))
    momentum = _step(model, x, y, Method(lr=0.1, optimizer="momentum", output_grad="printed"))
    for a, b in zip(sgd, momentum):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("changes", [{"grad_reduction": "sum", "lr": 0.0005}, {"output_grad": "printed"}])
def test_a_pack_trains_each_members_variant_as_if_alone(digits, changes) -> None:
    """Full batch, a pack of a variant and a default run: each ends as it ends alone (float64: to rounding)."""

    def trained(methods: list[Method]) -> list[list[np.ndarray]]:
        members = [
            Member(_network(seed), method, np.random.default_rng(seed), np.random.default_rng(9), epochs=5)
            for seed, method in enumerate(methods)
        ]
        train_pack(members, digits, None)
        return [member.model.params for member in members]

    variant = Method(**changes)
    packed = trained([variant, Method()])
    alone = [trained([variant])[0], *trained([Method(), Method()])[1:]]
    for ours, theirs in zip(packed, alone):
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_the_printed_gradient_needs_a_hidden_layer_and_cross_entropy(compose_config) -> None:
    check_values(settings_of(compose_config(["output_grad=printed"])))
    for overrides in (["hidden=[]"], ["output=sigmoid", "loss=mse"]):
        with pytest.raises(ConfigError, match="output_grad=printed"):
            check_values(settings_of(compose_config(["output_grad=printed", *overrides])))


def _positions(cfg: DataConfig) -> np.ndarray:
    """The training images' positions in the files, in the rows' order."""
    return split_indices(DigitsReader(cfg).training_shape()[0], cfg.val_size, cfg.train_limit, cfg.split_seed)[1]


@pytest.mark.parametrize("order", ["stored", "sorted"])
def test_a_fixed_order_is_the_files_or_the_labels_and_the_batches_take_it_every_epoch(order) -> None:
    cfg = DataConfig(**{**vars(DIGITS), "order": order, "train_limit": 500})
    data = load_dataset(cfg)
    shuffled = load_dataset(DataConfig(**{**vars(DIGITS), "train_limit": 500}))
    assert shuffled.train_order is None
    np.testing.assert_array_equal(data.x_train, shuffled.x_train)  # the same rows: only the order is fixed
    positions = _positions(cfg)[data.train_order]
    labels = data.y_train[data.train_order]
    if order == "stored":
        assert np.all(np.diff(positions) > 0)
        raw = DigitsReader(cfg).load()
        np.testing.assert_array_equal(labels, raw.y_train[np.sort(_positions(cfg))])
    else:
        assert np.all(np.diff(labels) >= 0) and set(labels) == set(range(10))
        for label in range(10):
            assert np.all(np.diff(positions[labels == label]) > 0)
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    trainer = Trainer([Member(_network(dtype=np.float32), Method(), rng, np.random.default_rng(1))], data, 7)
    for _ in range(2):  # epochs
        np.testing.assert_array_equal(np.concatenate([y.copy() for _, y in trainer.batches.epoch()]), labels)
    assert rng.bit_generator.state == state  # nothing drawn


def test_raw_inputs_are_the_pixel_values(idx_dataset) -> None:
    folder, arrays = idx_dataset
    cfg = DataConfig(root=str(folder), val_size=20, scaling="raw", order="stored", cache_arrays=False)
    data = load_dataset(cfg)
    stored = arrays["train_images"][np.sort(split_indices(120, 20, None, 0)[1])]
    np.testing.assert_array_equal(data.x_train[data.train_order], stored.reshape(100, -1).astype(np.float32))
    assert data.x_train.max() == 255 and data.x_test.max() == 255


@pytest.mark.parametrize("stop_after", [1, 2])
@pytest.mark.parametrize(
    "changes", [{"data": {"order": "sorted"}}, {"method": {"grad_reduction": "sum", "output_grad": "printed"}}]
)
def test_a_resumed_run_of_a_hypothesis_ends_as_an_uninterrupted_one(tmp_path, stop_after, changes) -> None:
    """Stopped after its first checkpoint (within the first epoch) or its second (at its end), and resumed."""
    data = load_dataset(DataConfig(**{**vars(DIGITS), **changes.get("data", {})}))
    method = Method(lr=0.001, **changes.get("method", {}))

    def run(checkpoints=None, resume=None, rows=None):
        model = MLP.initialise([64, 24, 10], "relu", "he", np.random.default_rng(0), np.float32)
        rows = [] if rows is None else rows
        train(
            model,
            data,
            epochs=3,
            batch_size=16,
            method=method,
            rng=np.random.default_rng(1),
            on_epoch=rows.append,
            checkpoints=checkpoints,
            resume=resume,
        )
        return model, rows

    reference, reference_rows = run()
    path = tmp_path / CHECKPOINT_FILE
    with pytest.raises(Interrupted):
        run(InterruptingCheckpointer(path, stop_after))
    checkpoint = load_checkpoint(path, "fp")
    model, rows = run(Checkpointer(path, "fp"), checkpoint, rows=reference_rows[: checkpoint.epoch])
    assert [[row[key] for key in METRICS] for row in rows] == [[row[key] for key in METRICS] for row in reference_rows]
    for ours, theirs in zip(model.params, reference.params):
        np.testing.assert_array_equal(ours, theirs)


def test_the_preset_changes_one_thing_of_the_w000_protocol_per_hypothesis(compose_config) -> None:
    assert "a000_hypotheses" in presets()
    base = settings_of(compose_config(["+experiment=a000_hypotheses"]))
    assert (base.batch_size, base.lr, base.init.value, base.init_scale) == (1, 0.1, "normal", 0.01)
    expected = {
        "full_batch": {"batch_size": "full", "epochs": 150},
        "summed": {"batch_size": 64, "grad_reduction": "sum", "epochs": 3},
        "printed": {"output_grad": "printed", "epochs": 2},
        "small_train": {"data.train_limit": 1000},  # 10 epochs: the default
        "stored": {"data.order": "stored", "epochs": 2},
        "sorted": {"data.order": "sorted", "epochs": 1},
        "raw": {"data.scaling": "raw", "epochs": 1},
    }
    plain = _flat(config_record(base))
    for hypothesis in HYPOTHESES:
        overrides = ["+experiment=a000_hypotheses", f"hypothesis={hypothesis}"]
        record = _flat(config_record(settings_of(compose_config(overrides))))
        assert {key: value for key, value in record.items() if plain[key] != value} == expected[hypothesis]


def _flat(record: dict, prefix: str = "") -> dict:
    """A config record's settings by dotted key."""
    flat = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat
