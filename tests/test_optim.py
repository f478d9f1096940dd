"""Optimizers, weight decay and learning-rate schedules, checked step by step against PyTorch.

nnexp and torch (torch.nn layers, torch.optim and torch.optim.lr_scheduler) train the same network
from the same initial weights on the same batches in float64; after 50 steps (5 epochs of 10) every
parameter agrees to rtol 1e-6.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nnexp.model import MLP
from nnexp.optim import OPTIMIZERS, SCHEDULES, make_optimizer
from nnexp.training import Method, Stepper

torch = pytest.importorskip("torch")

STEPS, STEPS_PER_EPOCH, BATCH = 50, 10, 8
EPOCHS = STEPS // STEPS_PER_EPOCH
SIZES = [6, 5, 4]  # hidden layers in between: 6 -> 5 -> 4 outputs or classes
OPTIMIZER_SETTINGS = {
    "sgd": ({}, {}),
    "momentum": ({"momentum": 0.8}, {"momentum": 0.8}),
    "nesterov": ({"momentum": 0.8}, {"momentum": 0.8, "nesterov": True}),
    "adam": ({"beta1": 0.85, "beta2": 0.99, "eps": 1e-6}, {"betas": (0.85, 0.99), "eps": 1e-6}),
    "rmsprop": ({"alpha": 0.95, "eps": 1e-6}, {"alpha": 0.95, "eps": 1e-6}),
}
TORCH_OPTIMIZERS = {"sgd": "SGD", "momentum": "SGD", "nesterov": "SGD", "adam": "Adam", "rmsprop": "RMSprop"}
SCHEDULE_SETTINGS = {
    "step": ({"step_size": 2, "gamma": 0.5}, lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5)),
    "exponential": ({"gamma": 0.7}, lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.7)),
    "inverse_time": ({"decay": 0.5}, lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 1 / (1 + 0.5 * e))),
    "cosine": (
        {"eta_min": 0.002},
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=EPOCHS, eta_min=0.002),
    ),
}
# (output kind, loss, output units): the binary task has one sigmoid unit
OUTPUTS = {
    "softmax_ce": ("softmax", "cross_entropy", 4),
    "sigmoid_ce": ("sigmoid", "cross_entropy", 4),
    "sigmoid_mse": ("sigmoid", "mse", 4),
    "binary_mse": ("softmax", "mse", 1),
}


def test_every_optimizer_and_non_constant_schedule_is_cross_checked() -> None:
    assert set(OPTIMIZER_SETTINGS) == set(OPTIMIZERS)
    assert set(SCHEDULE_SETTINGS) == set(SCHEDULES) - {"constant"}


def _torch_loss(logits, labels, output: str, loss: str, units: int):
    if output == "softmax" and units > 1:
        return torch.nn.functional.cross_entropy(logits, labels)
    targets = labels.double()[:, None] if units == 1 else torch.nn.functional.one_hot(labels, units).double()
    if loss == "cross_entropy":  # per-unit binary cross-entropy, summed over the units, mean over the batch
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="sum") / len(labels)
    return ((torch.sigmoid(logits) - targets) ** 2).sum() / len(labels)


# every optimizer x output/loss x weight decay on/off, each with a non-constant schedule; the schedules
# take turns, so that each of them meets every optimizer and every output
CASES = [
    (optimizer, output, decay, list(SCHEDULE_SETTINGS)[(i + j + k) % len(SCHEDULE_SETTINGS)])
    for i, optimizer in enumerate(OPTIMIZER_SETTINGS)
    for j, output in enumerate(OUTPUTS)
    for k, decay in enumerate([0.0, 0.05])
]


def test_the_cases_cover_every_schedule_with_every_optimizer_and_output() -> None:
    for schedule in SCHEDULE_SETTINGS:
        assert {case[0] for case in CASES if case[3] == schedule} == set(OPTIMIZER_SETTINGS)
        assert {case[1] for case in CASES if case[3] == schedule} == set(OUTPUTS)


@pytest.mark.parametrize("optimizer, output, weight_decay, schedule", CASES, ids=lambda v: str(v))
def test_training_steps_agree_with_torch(optimizer: str, output: str, weight_decay: float, schedule: str) -> None:
    kind, loss, units = OUTPUTS[output]
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(40, SIZES[0])), rng.integers(0, max(units, 2), size=40)
    batches = [rng.choice(40, size=BATCH, replace=False) for _ in range(STEPS)]
    model = MLP.initialise([*SIZES, units], "tanh", "xavier", rng, np.float64, loss=loss, output=kind)
    for b in model.biases:
        b[:] = rng.normal(0.0, 0.3, size=b.shape)
    lr = 0.05 if optimizer in ("sgd", "momentum", "nesterov") else 0.01
    initial = [w.copy() for w in model.weights]

    layers = []
    for w, b in zip(model.weights, model.biases):
        linear = torch.nn.Linear(*w.shape, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w.T.copy()))
            linear.bias.copy_(torch.from_numpy(b.copy()))
        layers.append(linear)
    net = torch.nn.Sequential(
        *itertools.chain.from_iterable((layer, torch.nn.Tanh()) for layer in layers[:-1]), layers[-1]
    )
    ours, theirs = OPTIMIZER_SETTINGS[optimizer]
    opt = getattr(torch.optim, TORCH_OPTIMIZERS[optimizer])(net.parameters(), lr=lr, **theirs)
    schedule_settings, make_scheduler = SCHEDULE_SETTINGS[schedule]
    scheduler = make_scheduler(opt)

    method = Method(lr, optimizer, ours, schedule, schedule_settings, weight_decay=weight_decay)
    stepper = Stepper([model], [method], BATCH, [np.random.default_rng(0)])
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for step, rows in enumerate(batches):
        epoch = step // STEPS_PER_EPOCH + 1
        stepper.step(x[rows], [y[rows]], [method.learning_rate(epoch, EPOCHS)])
        opt.zero_grad()
        objective = _torch_loss(net(xt[rows]), yt[rows], kind, loss, units)
        objective = objective + weight_decay / 2 * sum((layer.weight**2).sum() for layer in layers)
        objective.backward()
        opt.step()
        if (step + 1) % STEPS_PER_EPOCH == 0:
            scheduler.step()
    for layer, w, b in zip(layers, model.weights, model.biases):
        np.testing.assert_allclose(w, layer.weight.detach().numpy().T, rtol=1e-6, atol=1e-10)
        np.testing.assert_allclose(b, layer.bias.detach().numpy(), rtol=1e-6, atol=1e-10)
    assert all(np.abs(w - w0).max() > 1e-3 for w, w0 in zip(model.weights, initial))  # training moved every layer


@pytest.mark.parametrize("name", [n for n in OPTIMIZERS if n != "sgd"])
def test_optimizer_state_round_trips(name: str) -> None:
    """An optimizer restored from its state takes the same next step as the one it was saved from."""
    rng = np.random.default_rng(1)
    params = [rng.normal(size=(3, 2)), rng.normal(size=2)]
    grads = [[rng.normal(size=p.shape) for p in params] for _ in range(4)]
    first = make_optimizer(name, [p.copy() for p in params], {})
    for g in grads[:3]:
        first.step([x.copy() for x in g], 0.1)
    second = make_optimizer(name, [p.copy() for p in first.params], {})
    second.load_state(first.state())
    first.step([x.copy() for x in grads[3]], 0.1)
    second.step([x.copy() for x in grads[3]], 0.1)
    for a, b in zip(first.params, second.params):
        np.testing.assert_array_equal(a, b)


def test_an_optimizer_refuses_the_settings_of_another() -> None:
    with pytest.raises(ValueError, match="optimizer sgd takes no settings"):
        make_optimizer("sgd", [np.zeros(2)], {"beta1": 0.9})
