"""The implementations the benchmark times: nnexp, the write-up NumPy baseline, PyTorch and scikit-learn.

Each ``epochs_*`` function takes the splits (``data.x_train`` : (n, 784) float32 in [0, 1],
``data.y_train`` : (n,) labels 0..9), the hidden size, the batch size (None: the whole training
set, one step per epoch) and the optimizer's name (a key of :data:`nnexp.optim.OPTIMIZERS`,
trained at its rate in :data:`LEARNING_RATES` with nnexp's default settings, which are
``torch.optim``'s), and yields the seconds of one more training epoch at every ``next()``.
:data:`OPTIMIZERS_OF` says which optimizers each implementation has.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator

import numpy as np

from nnexp.bench.synthetic import N_CLASSES, N_FEATURES, SEED
from nnexp.config import Config
from nnexp.data import Splits
from nnexp.model import MLP
from nnexp.optim import OPTIMIZERS
from nnexp.training import Method, Trainer
from nnexp.training.loop import Member

IMPLS = ("nnexp", "numpy_writeup", "torch", "sklearn")
# sane rates for each optimizer: they do not change the time of an epoch, only keep the weights finite
# each optimizer's rate: the one its config group sets, else the config's default
LEARNING_RATES = {name: optimizer.LR or Config.lr for name, optimizer in OPTIMIZERS.items()}
OPTIMIZERS_OF = {
    "nnexp": tuple(OPTIMIZERS),
    "numpy_writeup": ("sgd",),
    "torch": ("sgd", "momentum", "nesterov", "adam", "rmsprop"),  # what torch_optimizer maps
    "sklearn": ("sgd", "adam"),
}


def _settings(optimizer: str) -> dict[str, float]:
    return dict(OPTIMIZERS[optimizer].SETTINGS)


def epochs_nnexp(data: Splits, hidden: int, batch: int | None, optimizer: str) -> Iterator[float]:
    """nnexp's own trainer; ``run_epoch`` times training only (no evaluation)."""
    rng = np.random.default_rng(SEED)
    model = MLP.initialise([N_FEATURES, hidden, N_CLASSES], "sigmoid", "xavier", rng, dtype=np.float32)
    lr = LEARNING_RATES[optimizer]
    trainer = Trainer([Member(model, Method(lr=lr, optimizer=optimizer), rng, rng)], data, batch)
    while True:
        yield trainer.run_epoch([lr])


# the write-ups' hidden activations f(Z) and their derivatives f'(Z) given Z and A = f(Z), as they write them
WRITEUP_ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    "sigmoid": (lambda Z: 1 / (1 + np.exp(-Z)), lambda Z, A: A * (1 - A)),
    "relu": (lambda Z: np.maximum(Z, 0), lambda Z, A: Z > 0),
    "tanh": (lambda Z: np.tanh(Z), lambda Z, A: 1 - A**2),
}


def writeup_gradients(W1, b1, W2, b2, Xb, Yb, activation: str = "sigmoid"):
    """The write-up baseline's backpropagation: gradients of the mean cross-entropy of a batch.

    Samples as columns: Xb : (784, m), Yb : (10, m) one-hot, W1 : (H, 784), b1 : (H, 1), W2 : (10, H),
    b2 : (10, 1); returns dW1, db1, dW2, db2 of the same shapes.
    """
    f, df = WRITEUP_ACTIVATIONS[activation]
    m = Xb.shape[1]
    Z1 = W1 @ Xb + b1
    A1 = f(Z1)
    Z2 = W2 @ A1 + b2
    E = np.exp(Z2 - Z2.max(axis=0, keepdims=True))
    A2 = E / E.sum(axis=0, keepdims=True)
    dZ2 = A2 - Yb
    dW2 = dZ2 @ A1.T / m
    db2 = dZ2.sum(axis=1, keepdims=True) / m
    dZ1 = (W2.T @ dZ2) * df(Z1, A1)
    dW1 = dZ1 @ Xb.T / m
    db1 = dZ1.sum(axis=1, keepdims=True) / m
    return dW1, db1, dW2, db2


def epochs_numpy_writeup(
    data: Splits, hidden: int, batch: int | None, optimizer: str, activation: str = "sigmoid"
) -> Iterator[float]:
    """BASELINE: the blog write-ups' NumPy code, kept as they write it (plain SGD only).

    float64, samples as columns (X is features x samples, W is out x in, Z = W @ X + b),
    one-hot targets, new arrays at every step, the data reshuffled every epoch (full batch too);
    ``activation`` is the hidden layer's (a key of :data:`WRITEUP_ACTIVATIONS`).
    """
    if optimizer != "sgd":
        raise ValueError(f"the write-up baseline has plain SGD only, not {optimizer}")
    if activation not in WRITEUP_ACTIVATIONS:
        allowed = ", ".join(WRITEUP_ACTIVATIONS)
        raise ValueError(f"the write-up baseline has no activation {activation}; allowed: {allowed}")
    lr = LEARNING_RATES["sgd"]
    rng = np.random.default_rng(SEED)
    X = data.x_train.T.astype(np.float64)
    Y = np.eye(N_CLASSES)[data.y_train].T
    n = X.shape[1]
    batch = batch or n
    W1 = rng.standard_normal((hidden, N_FEATURES)) * np.sqrt(1 / N_FEATURES)
    b1 = np.zeros((hidden, 1))
    W2 = rng.standard_normal((N_CLASSES, hidden)) * np.sqrt(1 / hidden)
    b2 = np.zeros((N_CLASSES, 1))
    while True:
        start = time.perf_counter()
        permutation = rng.permutation(n)
        X_shuffled, Y_shuffled = X[:, permutation], Y[:, permutation]
        for k in range(0, n, batch):
            Xb, Yb = X_shuffled[:, k : k + batch], Y_shuffled[:, k : k + batch]
            dW1, db1, dW2, db2 = writeup_gradients(W1, b1, W2, b2, Xb, Yb, activation)
            W1, b1, W2, b2 = W1 - lr * dW1, b1 - lr * db1, W2 - lr * dW2, b2 - lr * db2
        yield time.perf_counter() - start


def torch_optimizer(optimizer: str, params, lr: float):
    """The ``torch.optim`` optimizer matching nnexp's ``optimizer``, with nnexp's settings for it."""
    import torch

    settings = _settings(optimizer)
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0)
    if optimizer in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=settings["momentum"], nesterov=optimizer == "nesterov")
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(settings["beta1"], settings["beta2"]), eps=settings["eps"])
    if optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=settings["alpha"], eps=settings["eps"])
    raise ValueError(f"no torch.optim optimizer for {optimizer}")


def epochs_torch(data: Splits, hidden: int, batch: int | None, optimizer: str) -> Iterator[float]:
    """PyTorch on the CPU: nn.Sequential, CrossEntropyLoss, the matching torch.optim optimizer, float32.

    Full batch is one forward and backward pass over all rows, unshuffled (order does not change the gradient).
    """
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train.astype(np.int64))
    model = nn.Sequential(nn.Linear(N_FEATURES, hidden), nn.Sigmoid(), nn.Linear(hidden, N_CLASSES))
    loss_fn = nn.CrossEntropyLoss()
    optimiser = torch_optimizer(optimizer, model.parameters(), LEARNING_RATES[optimizer])
    while True:
        start = time.perf_counter()
        if batch is None:
            optimiser.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            optimiser.step()
        else:
            permutation = torch.randperm(len(y))
            for k in range(0, len(y), batch):
                idx = permutation[k : k + batch]
                optimiser.zero_grad(set_to_none=True)
                loss_fn(model(x.index_select(0, idx)), y.index_select(0, idx)).backward()
                optimiser.step()
        yield time.perf_counter() - start


def epochs_sklearn(data: Splits, hidden: int, batch: int | None, optimizer: str) -> Iterator[float]:
    """scikit-learn's MLPClassifier, one ``fit`` call (warm start, ``max_iter=1``) per epoch.

    ``sgd`` is its ``sgd`` solver without momentum; ``adam`` its ``adam`` solver with nnexp's betas and eps.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    if optimizer not in OPTIMIZERS_OF["sklearn"]:
        raise ValueError(f"scikit-learn's MLPClassifier is not timed with {optimizer}")
    adam = _settings("adam")  # the adam solver's settings; the sgd solver ignores them, adam ignores momentum
    clf = MLPClassifier(
        hidden_layer_sizes=(hidden,),
        activation="logistic",
        solver=optimizer,
        beta_1=adam["beta1"],
        beta_2=adam["beta2"],
        epsilon=adam["eps"],
        momentum=0,
        nesterovs_momentum=False,
        learning_rate_init=LEARNING_RATES[optimizer],
        learning_rate="constant",
        batch_size=batch or len(data.y_train),
        alpha=0,
        shuffle=True,
        max_iter=1,
        warm_start=True,
        tol=0,
        n_iter_no_change=10**9,
        random_state=SEED,
    )
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            clf.fit(data.x_train, data.y_train)
            seconds = time.perf_counter() - start
        yield seconds


EPOCHS: dict[str, Callable[[Splits, int, int | None, str], Iterator[float]]] = {
    "nnexp": epochs_nnexp,
    "numpy_writeup": epochs_numpy_writeup,
    "torch": epochs_torch,
    "sklearn": epochs_sklearn,
}
