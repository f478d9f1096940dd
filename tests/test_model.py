"""The network's maths: gradients, softmax cross-entropy, activations, initialisation, SGD."""

from __future__ import annotations

import math

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from nnexp.model import ACTIVATIONS, MLP, blas
from nnexp.model.activations import make_activation
from nnexp.model.init import initial_biases, initial_weights
from nnexp.model.loss import (
    SigmoidCrossEntropy,
    SigmoidSquaredError,
    SoftmaxCrossEntropy,
    cross_entropy_sum,
    make_output,
    softmax_,
)
from nnexp.optim.sgd import SGD

DEPTHS = [[], [6], [5, 4], [4, 3, 5]]


def _network(
    activation: str,
    hidden: list[int],
    seed: int = 1,
    n_in: int = 5,
    n_out: int = 3,
    loss: str = "cross_entropy",
    output: str = "softmax",
) -> MLP:
    model = MLP.initialise(
        [n_in, *hidden, n_out], activation, "xavier", np.random.default_rng(seed), np.float64, loss=loss, output=output
    )
    rng = np.random.default_rng(seed + 100)
    for b in model.biases:  # non-zero biases keep ReLU pre-activations away from the kink at 0
        b[:] = rng.normal(0.0, 0.5, size=b.shape)
    return model


def _numerical_gradient(
    model: MLP, x: np.ndarray, y: np.ndarray, param: np.ndarray, eps: float = 1e-6, **options
) -> np.ndarray:
    grad = np.zeros_like(param)
    for index in np.ndindex(param.shape):
        original = param[index]
        param[index] = original + eps
        plus = model.loss_and_gradients(x, y, **options)[0]
        param[index] = original - eps
        minus = model.loss_and_gradients(x, y, **options)[0]
        param[index] = original
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def _check_gradients(model: MLP, x: np.ndarray, y: np.ndarray, **options) -> None:
    _, grad_w, grad_b = model.loss_and_gradients(x, y, **options)
    for param, analytic in zip(model.params, grad_w + grad_b):
        numeric = _numerical_gradient(model, x, y, param, **options)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


# (output units, loss, output kind): one sigmoid unit is the binary task
OUTPUTS = {
    "softmax_ce": (3, "cross_entropy", "softmax"),
    "sigmoid_bce": (1, "cross_entropy", "softmax"),
    "sigmoid_mse": (1, "mse", "softmax"),
    "sigmoid_per_class_bce": (3, "cross_entropy", "sigmoid"),
    "sigmoid_per_class_mse": (3, "mse", "sigmoid"),
}


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("hidden", DEPTHS, ids=lambda h: f"hidden={h}")
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradients_match_finite_differences(activation: str, hidden: list[int], output: str) -> None:
    n_out, loss, kind = OUTPUTS[output]
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 5)), rng.integers(0, max(n_out, 2), size=7)
    _check_gradients(_network(activation, hidden, n_out=n_out, loss=loss, output=kind), x, y)


@pytest.mark.parametrize("output", OUTPUTS)
def test_the_l2_penalty_is_in_the_loss_and_its_gradient(output: str) -> None:
    n_out, loss, kind = OUTPUTS[output]
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(7, 5)), rng.integers(0, max(n_out, 2), size=7)
    model = _network("tanh", [6, 4], n_out=n_out, loss=loss, output=kind)
    plain = model.loss_and_gradients(x, y)[0]
    penalised = model.loss_and_gradients(x, y, weight_decay=0.3)[0]
    assert penalised - plain == pytest.approx(0.15 * sum(float((w**2).sum()) for w in model.weights), rel=1e-12)
    _check_gradients(model, x, y, weight_decay=0.3)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dropout_gradients_match_finite_differences_with_a_fixed_mask(activation: str) -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(7, 5)), rng.integers(0, 3, size=7)
    model = _network(activation, [6, 4])
    keep = 0.6
    masks = [(rng.random((7, n)) < keep) / keep for n in (6, 4)]
    assert all(0 < m.mean() < 1 / keep for m in masks)  # some units dropped, some kept
    _check_gradients(model, x, y, masks=masks)
    unmasked = model.loss_and_gradients(x, y)[0]
    assert model.loss_and_gradients(x, y, masks=masks)[0] != pytest.approx(unmasked)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fused", [True, False], ids=["blas_update", "numpy_update"])
def test_sgd_step_moves_parameters_by_lr_times_gradient(dtype, fused, monkeypatch) -> None:
    """The step subtracts lr * gradient from every parameter, whether the update runs inside BLAS or not; inside
    BLAS it forms no weight gradient (the workspace's gradient arrays stay as they were)."""
    if not fused:
        monkeypatch.setattr(blas, "_blas_subtract", lambda dtype: None)
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(9, 5)).astype(dtype), rng.integers(0, 3, size=9)
    model = _network("tanh", [4, 6])
    model.weights = [w.astype(dtype) for w in model.weights]
    model.biases = [b.astype(dtype) for b in model.biases]
    before_w = [w.copy() for w in model.weights]
    before_b = [b.copy() for b in model.biases]
    _, grad_w, grad_b = model.loss_and_gradients(x, y)
    ws = model.workspace(16)  # larger than the batch
    for grad in ws.grad_w:
        grad.fill(np.nan)
    SGD(model.params).step(model.gradients(x, y, ws), 0.3)
    in_blas = fused and blas.fused_update_available(dtype)
    assert all(np.isnan(grad).all() == in_blas for grad in ws.grad_w)
    tol = {"rtol": 1e-12, "atol": 1e-14} if dtype == np.float64 else {"rtol": 1e-5, "atol": 1e-6}
    for w, w0, g in zip(model.weights, before_w, grad_w):
        np.testing.assert_allclose(w, w0 - 0.3 * g, **tol)
    for b, b0, g in zip(model.biases, before_b, grad_b):
        np.testing.assert_allclose(b, b0 - 0.3 * g, **tol)


@pytest.mark.parametrize("rows", [13, 1], ids=["gemm", "one_row_ger"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blas_update_equals_numpy_and_falls_back_where_it_cannot_run(dtype, rows) -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(rows, 7)).astype(dtype), rng.normal(size=(rows, 4)).astype(dtype)
    c = rng.normal(size=(7, 4)).astype(dtype)
    expected = c - 0.3 * (a.T @ b)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    readonly = b.copy()
    readonly.flags.writeable = False
    strided = np.repeat(a, 2, axis=1)[:, ::2]  # same values, not contiguous
    for a_in, b_in in ((a, b), (a, readonly), (strided, b)):
        out = c.copy()
        scratch = np.full_like(c, np.nan)  # the NumPy fallback writes the product here; the BLAS call does not
        blas.subtract_at_b_(out, a_in, b_in, scratch=scratch, alpha=0.3)
        np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)
        in_blas = blas.fused_update_available(dtype) and a_in is not strided
        assert np.isnan(scratch).all() == in_blas  # read-only inputs (memory-mapped images) take the BLAS call too


def test_numpy_bundled_blas_is_used_for_the_update() -> None:
    """With NumPy's own wheel (which bundles OpenBLAS) the fused update is available."""
    if not blas._numpy_blas_files():
        pytest.skip("this NumPy does not bundle its BLAS (the NumPy fallback is used)")
    assert blas.fused_update_available(np.float32) and blas.fused_update_available(np.float64)


def test_sgd_step_lowers_the_loss() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(32, 5)), rng.integers(0, 3, size=32)
    model = _network("relu", [8])
    ws, sgd = model.workspace(32), SGD(model.params)
    first = model.loss_and_gradients(x, y)[0]
    for _ in range(50):
        sgd.step(model.gradients(x, y, ws), 0.1)
    assert model.loss_and_gradients(x, y)[0] < 0.8 * first


def test_cross_entropy_is_finite_and_exact_for_huge_logits() -> None:
    logits = np.array([[1000.0, 0.0, -1000.0], [-5e4, 5e4, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is exact here
        assert cross_entropy_sum(logits, np.array([0, 1])) == pytest.approx(0.0, abs=1e-12)
        assert cross_entropy_sum(logits, np.array([1, 0])) == pytest.approx(1000.0 + 1e5)
        probs = logits.copy()
        softmax_(probs)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(probs, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], atol=1e-300)


def test_binary_losses_are_stable_and_match_their_formulas() -> None:
    z = np.array([[-800.0], [-2.0], [0.0], [3.0], [800.0]])
    y = np.array([0, 1, 1, 0, 1])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        bce = SigmoidCrossEntropy().loss_sum(z, y)
        mse = SigmoidSquaredError().loss_sum(z, y)
    s = 1 / (1 + np.exp(-np.clip(z[:, 0], -700, 700)))
    sm, ym = s[1:4], y[1:4]  # the textbook formula is finite there; the confident extremes add ~0
    expected_bce = -(ym * np.log(sm) + (1 - ym) * np.log(1 - sm)).sum()
    assert bce == pytest.approx(expected_bce, rel=1e-12)
    assert mse == pytest.approx(((s - y) ** 2).sum(), rel=1e-12)
    np.testing.assert_array_equal(SigmoidCrossEntropy().predict(z), [0, 0, 0, 1, 1])


def test_output_layer_follows_the_output_kind_and_the_number_of_units() -> None:
    assert isinstance(make_output("softmax", "cross_entropy", 10), SoftmaxCrossEntropy)
    assert isinstance(make_output("softmax", "cross_entropy", 1), SigmoidCrossEntropy)  # the binary task
    assert isinstance(make_output("softmax", "mse", 1), SigmoidSquaredError)
    ten = make_output("sigmoid", "mse", 10)
    assert isinstance(ten, SigmoidSquaredError) and ten.n_outputs == 10
    assert isinstance(make_output("sigmoid", "cross_entropy", 10), SigmoidCrossEntropy)
    with pytest.raises(ValueError, match=r"loss=mse needs sigmoid outputs"):
        make_output("softmax", "mse", 10)


def test_cross_entropy_matches_the_textbook_formula_for_small_logits() -> None:
    rng = np.random.default_rng(5)
    logits, labels = rng.normal(size=(6, 4)), rng.integers(0, 4, size=6)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = -np.log(probs[np.arange(6), labels]).sum()
    assert cross_entropy_sum(logits, labels) == pytest.approx(expected, rel=1e-12)
    softmax_(logits)
    np.testing.assert_allclose(logits, probs, rtol=1e-12)


REFERENCE = {
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "gelu": lambda z: z * np.vectorize(lambda v: 0.5 * (1 + math.erf(v / math.sqrt(2))))(z),
    "silu": lambda z: z / (1 + np.exp(-z)),
}


# silu = z sigmoid(z): sigmoid's rounding near 0 (about 1e-16 absolute) times |z| up to 30
ABSOLUTE = {"silu": 1e-14}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_forward_matches_its_formula(name: str) -> None:
    z = np.linspace(-30, 30, 121)
    out = z.copy()
    make_activation(name).forward_(out, np.empty_like(z))
    np.testing.assert_allclose(out, REFERENCE[name](z), rtol=1e-12, atol=ABSOLUTE.get(name, 1e-15))


def test_sigmoid_saturates_without_overflow() -> None:
    z = np.array([-1e4, -800.0, 0.0, 800.0, 1e4])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        make_activation("sigmoid").forward_(z, np.empty_like(z))
    np.testing.assert_allclose(z, [0.0, 0.0, 0.5, 1.0, 1.0])


def test_unknown_activation_is_named_in_the_error() -> None:
    with pytest.raises(
        ValueError, match=r"activation='softplus'.*allowed: gelu, leaky_relu, relu, sigmoid, silu, tanh"
    ):
        make_activation("softplus")


def test_initialisation_schemes_have_their_published_spread() -> None:
    rng = np.random.default_rng(6)
    normal = initial_weights("normal", 400, 300, rng, scale=0.01)
    assert normal.std() == pytest.approx(0.01, rel=0.02)
    xavier = initial_weights("xavier", 400, 300, rng, scale=0.01)
    limit = np.sqrt(6 / 700)
    assert np.abs(xavier).max() <= limit
    assert xavier.std() == pytest.approx(limit / np.sqrt(3), rel=0.02)
    he = initial_weights("he", 400, 300, rng, scale=0.01)
    assert he.std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)
    lecun = initial_weights("lecun", 400, 300, rng, scale=0.01)
    assert lecun.std() == pytest.approx(np.sqrt(1 / 400), rel=0.02) and abs(lecun.mean()) < 0.002
    with pytest.raises(ValueError, match=r"init='glorot'.*allowed: he, lecun, normal, xavier"):
        initial_weights("glorot", 3, 3, rng, 0.01)


def test_initialise_builds_any_depth_with_zero_biases_and_counts_parameters() -> None:
    model = MLP.initialise([784, 128, 64, 10], "relu", "he", np.random.default_rng(0))
    assert model.layer_sizes == [784, 128, 64, 10]
    assert [w.shape for w in model.weights] == [(784, 128), (128, 64), (64, 10)]
    assert all(not b.any() for b in model.biases)
    assert model.dtype == np.float32
    assert model.n_params == 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10


@pytest.mark.parametrize("init", ["normal", "xavier", "he", "lecun"])
def test_biases_like_weights_are_drawn_as_their_layers_weights_after_the_same_weights(init) -> None:
    """bias_init=like_weights (write-up 003's random b1, b2): each layer's biases come from its weights' distribution,
    drawn after every weight, so the weights are those of bias_init=zeros for the same seed."""
    sizes = [400, 3000, 2000]
    zeros = MLP.initialise(sizes, "sigmoid", init, np.random.default_rng(4), init_scale=0.05)
    drawn = MLP.initialise(sizes, "sigmoid", init, np.random.default_rng(4), init_scale=0.05, bias_init="like_weights")
    again = MLP.initialise(sizes, "sigmoid", init, np.random.default_rng(4), init_scale=0.05, bias_init="like_weights")
    for w_zeros, w_drawn, b_drawn, b_again in zip(zeros.weights, drawn.weights, drawn.biases, again.biases):
        np.testing.assert_array_equal(w_zeros, w_drawn)
        np.testing.assert_array_equal(b_drawn, b_again)
        assert b_drawn.dtype == np.float32 and b_drawn.shape == (w_drawn.shape[1],)
        # 2,000-3,000 draws: the sample spread is within 5% of the weights' (relative SE 1/sqrt(2n) < 1.6%)
        assert b_drawn.std() == pytest.approx(w_drawn.std(), rel=0.05)
        assert not np.array_equal(b_drawn[:-1], b_drawn[1:])  # drawn, not one value
    assert all(not b.any() for b in zeros.biases)


def test_zero_biases_draw_nothing_and_an_unknown_bias_init_is_named() -> None:
    rng = np.random.default_rng(2)
    state = rng.bit_generator.state
    assert not initial_biases("zeros", "normal", 5, 7, rng, 0.01).any()
    assert rng.bit_generator.state == state
    with pytest.raises(ValueError, match=r"bias_init='random'.*allowed: zeros, like_weights"):
        initial_biases("random", "normal", 5, 7, rng, 0.01)


def test_float32_and_float64_networks_start_from_the_same_weights() -> None:
    single = MLP.initialise([20, 8, 10], "sigmoid", "xavier", np.random.default_rng(9), np.float32)
    double = MLP.initialise([20, 8, 10], "sigmoid", "xavier", np.random.default_rng(9), np.float64)
    for w32, w64 in zip(single.weights, double.weights):
        np.testing.assert_array_equal(w32, w64.astype(np.float32))


def test_evaluate_in_chunks_equals_one_pass() -> None:
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(50, 5)), rng.integers(0, 3, size=50)
    model = _network("leaky_relu", [6, 4])
    whole = model.evaluate(x, y, chunk=1000)
    chunked = model.evaluate(x, y, chunk=7)
    assert chunked == pytest.approx(whole, rel=1e-12)
    assert whole[1] == np.mean(model.predict(x) == y)
    assert whole[0] == pytest.approx(cross_entropy_sum(model.logits(x), y) / 50)


def test_evaluation_is_the_same_to_the_last_bit_whatever_the_blas_threads() -> None:
    # a matmul split between BLAS threads rounds differently (on MNIST-sized inputs, without the one-thread
    # evaluation: a relative 1e-9 in the mean loss between 1 and 2 threads), so evaluate and logits pin one
    with threadpool_limits(limits=2, user_api="blas"):
        if max(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas") < 2:
            pytest.skip("BLAS runs on one thread here (one core, or OPENBLAS_NUM_THREADS=1): nothing to compare")
    rng = np.random.default_rng(3)
    x, y = rng.random((4096, 784), dtype=np.float32), rng.integers(0, 10, size=4096)
    model = MLP.initialise([784, 128, 10], "sigmoid", "xavier", rng, np.float32, output="sigmoid", loss="mse")
    seen = []
    for threads in (1, 2, 4):
        with threadpool_limits(limits=threads, user_api="blas"):
            seen.append((model.evaluate(x, y), model.logits(x[:2048]).tobytes()))
    assert seen[1] == seen[0] and seen[2] == seen[0]
