"""Every registered activation against PyTorch: its values, its derivative, and a network's gradients with it."""

from __future__ import annotations

import numpy as np
import pytest

from nnexp.model import ACTIVATIONS, MLP
from nnexp.model.activations import make_activation

torch = pytest.importorskip("torch")

TORCH_ACTIVATIONS = {
    "sigmoid": torch.nn.Sigmoid,
    "tanh": torch.nn.Tanh,
    "relu": torch.nn.ReLU,
    "leaky_relu": lambda: torch.nn.LeakyReLU(0.01),
    "gelu": torch.nn.GELU,  # exact (erf), torch's default
    "silu": torch.nn.SiLU,
}


def test_every_registered_activation_is_cross_checked() -> None:
    assert set(TORCH_ACTIVATIONS) == set(ACTIVATIONS)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_values_and_derivative_agree_with_torch(name: str) -> None:
    z = np.concatenate([np.linspace(-12, 12, 241), [-1e4, -50.0, 1e-8, 50.0, 1e4]])
    z = z[z != 0]  # the rectifiers' kink: torch and nnexp each pick a side
    reference = torch.from_numpy(z).requires_grad_()
    values = TORCH_ACTIVATIONS[name]()(reference)
    values.sum().backward()
    activation = make_activation(name)
    out, tmp = z.copy(), np.empty_like(z)
    with np.errstate(over="raise", invalid="raise"):
        activation.forward_(out, tmp)
        delta = np.ones_like(z)
        activation.backprop_(delta, z.copy() if activation.uses_input else out, tmp)
    np.testing.assert_allclose(out, values.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(delta, reference.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_a_networks_gradients_agree_with_torch_autograd(name: str) -> None:
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(9, 5)), rng.integers(0, 3, size=9)
    model = MLP.initialise([5, 7, 6, 3], name, "xavier", rng, np.float64)
    for b in model.biases:
        b[:] = rng.normal(0.0, 0.5, size=b.shape)
    keep = 0.7
    masks = [(rng.random((9, n)) < keep) / keep for n in (7, 6)]
    loss, grad_w, grad_b = model.loss_and_gradients(x, y, weight_decay=0.01, masks=masks)

    weights = [torch.from_numpy(w.copy()).requires_grad_() for w in model.weights]
    biases = [torch.from_numpy(b.copy()).requires_grad_() for b in model.biases]
    a = torch.from_numpy(x)
    for l, (w, b) in enumerate(zip(weights, biases)):
        a = a @ w + b
        if l < len(weights) - 1:
            a = TORCH_ACTIVATIONS[name]()(a) * torch.from_numpy(masks[l])
    objective = torch.nn.functional.cross_entropy(a, torch.from_numpy(y)) + 0.005 * sum((w**2).sum() for w in weights)
    objective.backward()
    assert loss == pytest.approx(objective.item(), rel=1e-12)
    for ours, theirs in zip([*grad_w, *grad_b], [*weights, *biases]):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-9, atol=1e-12)
