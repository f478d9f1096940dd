"""Output layers with their losses, numerically stable for any logits.

- :class:`SoftmaxCrossEntropy`: K classes, softmax + multi-class cross-entropy (labels 0..K-1);
- :class:`SigmoidCrossEntropy`: one output, sigmoid + binary cross-entropy (labels 0/1);
- :class:`SigmoidSquaredError`: one output, sigmoid + squared error (003's MSE variant).

Each turns the output logits of a batch into the gradient of the *summed* loss
with respect to those logits, in place (``delta_``); the network scales it.
"""

from __future__ import annotations

import numpy as np

from nnexp.model.activations import sigmoid_


def softmax_(z: np.ndarray) -> None:
    """Replace each row of logits ``z`` by its softmax, in place (max-shifted: no overflow)."""
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)


def cross_entropy_sum(logits: np.ndarray, labels: np.ndarray) -> float:
    """Sum over rows of -log softmax(logits)[label], via log-sum-exp (finite for finite logits)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    return float(np.sum(log_norm - shifted[np.arange(len(labels)), labels], dtype=np.float64))


class SoftmaxCrossEntropy:
    """Multi-class output: one logit per class."""

    name = "softmax_cross_entropy"

    def __init__(self, n_classes: int) -> None:
        self.n_outputs = n_classes

    def loss_sum(self, logits: np.ndarray, labels: np.ndarray) -> float:
        return cross_entropy_sum(logits, labels)

    def predict(self, logits: np.ndarray) -> np.ndarray:
        return logits.argmax(axis=1)

    def delta_(self, logits: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> None:
        """logits -> softmax - one-hot(labels)."""
        softmax_(logits)
        logits[rows[: len(labels)], labels] -= 1.0


class SigmoidCrossEntropy:
    """Binary output: one logit, the probability of class 1."""

    name = "sigmoid_cross_entropy"
    n_outputs = 1

    def loss_sum(self, logits: np.ndarray, labels: np.ndarray) -> float:
        z = logits[:, 0].astype(np.float64)
        # -[y log s(z) + (1-y) log(1-s(z))] = max(z, 0) - y z + log(1 + e^-|z|)
        return float(np.sum(np.maximum(z, 0) - labels * z + np.log1p(np.exp(-np.abs(z)))))

    def predict(self, logits: np.ndarray) -> np.ndarray:
        return (logits[:, 0] > 0).astype(np.intp)

    def delta_(self, logits: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> None:
        """logits -> sigma(z) - y."""
        sigmoid_(logits)
        logits[:, 0] -= labels


class SigmoidSquaredError(SigmoidCrossEntropy):
    """Binary output trained on the squared error (sigma(z) - y)^2."""

    name = "sigmoid_squared_error"

    def loss_sum(self, logits: np.ndarray, labels: np.ndarray) -> float:
        a = logits[:, 0].astype(np.float64)
        sigmoid_(a)
        return float(np.sum((a - labels) ** 2))

    def delta_(self, logits: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> None:
        """logits -> 2 (sigma(z) - y) sigma(z) (1 - sigma(z))."""
        sigmoid_(logits)
        a = logits[:, 0]
        slope = a * (1.0 - a)
        a -= labels
        a *= 2.0 * slope


LOSSES = ("cross_entropy", "mse")


def n_outputs(n_classes: int) -> int:
    """Output units for ``n_classes`` classes: one sigmoid unit for two, one softmax unit per class otherwise."""
    return 1 if n_classes == 2 else n_classes


def make_output(loss: str, n_classes: int) -> SoftmaxCrossEntropy | SigmoidCrossEntropy | SigmoidSquaredError:
    """The output layer for ``loss`` on ``n_classes`` classes (2 classes: one sigmoid output)."""
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is not known; allowed: {', '.join(LOSSES)}")
    if n_classes == 2:
        return SigmoidCrossEntropy() if loss == "cross_entropy" else SigmoidSquaredError()
    if loss == "mse":
        raise ValueError(f"loss=mse is implemented for binary tasks only (task=one_vs_all), not {n_classes} classes")
    return SoftmaxCrossEntropy(n_classes)
