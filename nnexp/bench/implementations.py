"""The implementations the benchmark times: nnexp, the write-up NumPy baseline, PyTorch and scikit-learn.

Each ``epochs_*`` function takes the splits (``data.x_train`` : (n, 784) float32 in [0, 1],
``data.y_train`` : (n,) labels 0..9), the hidden size and the batch size, and yields the
seconds of one more training epoch at every ``next()``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator

import numpy as np

from nnexp.bench.synthetic import N_CLASSES, N_FEATURES, SEED
from nnexp.data import Splits
from nnexp.model import MLP
from nnexp.training import train

IMPLS = ("nnexp", "numpy_writeup", "torch", "sklearn")
LR = 0.1


def epochs_nnexp(data: Splits, hidden: int, batch: int) -> Iterator[float]:
    """nnexp's own trainer; ``epoch_seconds`` excludes the per-epoch evaluation."""
    rng = np.random.default_rng(SEED)
    model = MLP.initialise([N_FEATURES, hidden, N_CLASSES], "sigmoid", "xavier", rng, dtype=np.float32)
    while True:
        rows: list[dict] = []
        train(model, data, epochs=1, batch_size=batch, lr=LR, rng=rng, on_epoch=rows.append)
        yield rows[0]["epoch_seconds"]


def epochs_numpy_writeup(data: Splits, hidden: int, batch: int) -> Iterator[float]:
    """BASELINE: the blog write-ups' NumPy code, kept as they write it.

    float64, samples as columns (X is features x samples, W is out x in, Z = W @ X + b),
    one-hot targets, new arrays at every step, the data reshuffled every epoch.
    """
    rng = np.random.default_rng(SEED)
    X = data.x_train.T.astype(np.float64)
    Y = np.eye(N_CLASSES)[data.y_train].T
    n = X.shape[1]
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
            m = Xb.shape[1]
            Z1 = W1 @ Xb + b1
            A1 = 1 / (1 + np.exp(-Z1))
            Z2 = W2 @ A1 + b2
            E = np.exp(Z2 - Z2.max(axis=0, keepdims=True))
            A2 = E / E.sum(axis=0, keepdims=True)
            dZ2 = A2 - Yb
            dW2 = dZ2 @ A1.T / m
            db2 = dZ2.sum(axis=1, keepdims=True) / m
            dZ1 = (W2.T @ dZ2) * A1 * (1 - A1)
            dW1 = dZ1 @ Xb.T / m
            db1 = dZ1.sum(axis=1, keepdims=True) / m
            W1, b1, W2, b2 = W1 - LR * dW1, b1 - LR * db1, W2 - LR * dW2, b2 - LR * db2
        yield time.perf_counter() - start


def epochs_torch(data: Splits, hidden: int, batch: int) -> Iterator[float]:
    """PyTorch on the CPU: nn.Sequential, CrossEntropyLoss, SGD without momentum, float32."""
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train.astype(np.int64))
    model = nn.Sequential(nn.Linear(N_FEATURES, hidden), nn.Sigmoid(), nn.Linear(hidden, N_CLASSES))
    loss_fn = nn.CrossEntropyLoss()
    optimiser = torch.optim.SGD(model.parameters(), lr=LR, momentum=0)
    while True:
        start = time.perf_counter()
        permutation = torch.randperm(len(y))
        for k in range(0, len(y), batch):
            idx = permutation[k : k + batch]
            optimiser.zero_grad(set_to_none=True)
            loss_fn(model(x.index_select(0, idx)), y.index_select(0, idx)).backward()
            optimiser.step()
        yield time.perf_counter() - start


def epochs_sklearn(data: Splits, hidden: int, batch: int) -> Iterator[float]:
    """scikit-learn's MLPClassifier, one ``fit`` call (warm start, ``max_iter=1``) per epoch."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=(hidden,),
        activation="logistic",
        solver="sgd",
        momentum=0,
        nesterovs_momentum=False,
        learning_rate_init=LR,
        learning_rate="constant",
        batch_size=batch,
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


EPOCHS: dict[str, Callable[[Splits, int, int], Iterator[float]]] = {
    "nnexp": epochs_nnexp,
    "numpy_writeup": epochs_numpy_writeup,
    "torch": epochs_torch,
    "sklearn": epochs_sklearn,
}
