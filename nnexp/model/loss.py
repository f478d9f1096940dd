"""Output layers with their losses, numerically stable for any logits.

- :class:`SoftmaxCrossEntropy`: K classes, softmax + multi-class cross-entropy (labels 0..K-1);
- :class:`SigmoidCrossEntropy`: one output, sigmoid + binary cross-entropy (labels 0/1);
- :class:`SigmoidSquaredError`: one output, sigmoid + squared error (003's MSE variant).

Each turns the output logits of a batch, in place, into ``scale`` times the gradient
of the *summed* loss with respect to those logits (``delta_``); the network passes
``scale`` = learning rate / batch size, so the deltas are already the update steps.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from nnexp.model.activations import sigmoid_


class DeltaBuffers(Protocol):
    """Preallocated arrays an output layer may use while computing its deltas (see :class:`Workspace`)."""

    row_buffer: np.ndarray  # (rows, 1)
    flat_index: np.ndarray  # (rows,) integers
    row_offsets: np.ndarray  # (rows,): i * number of outputs


def softmax_(z: np.ndarray, scale: float = 1.0, row_buffer: np.ndarray | None = None) -> None:
    """Replace each row of logits ``z`` (m, K) by ``scale`` times its softmax, in place (max-shifted: no overflow).

    ``row_buffer`` (at least (m, 1)) saves allocating the row maxima and sums.
    """
    rows = np.empty((len(z), 1), z.dtype) if row_buffer is None else row_buffer[: len(z)]
    np.maximum.reduce(z, axis=1, keepdims=True, out=rows)  # the ufunc methods skip np.max's wrapper
    np.subtract(z, rows, out=z)
    np.exp(z, out=z)
    np.add.reduce(z, axis=1, keepdims=True, out=rows)
    np.divide(scale, rows, out=rows)
    np.multiply(z, rows, out=z)


def cross_entropy_sum(logits: np.ndarray, labels: np.ndarray) -> float:
    """Sum over rows of -log softmax(logits)[label] for ``logits`` (m, K), ``labels`` (m,), via log-sum-exp."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    return float(np.sum(log_norm - shifted[np.arange(len(labels)), labels], dtype=np.float64))


class SoftmaxCrossEntropy:
    """Multi-class output: one logit per class; logits (m, K), labels (m,) in 0..K-1."""

    name = "softmax_cross_entropy"

    def __init__(self, n_classes: int) -> None:
        self.n_outputs = n_classes

    def loss_sum(self, logits: np.ndarray, labels: np.ndarray) -> float:
        return cross_entropy_sum(logits, labels)

    def predict(self, logits: np.ndarray) -> np.ndarray:
        return logits.argmax(axis=1)

    def delta_(self, logits: np.ndarray, labels: np.ndarray, scale: float, ws: DeltaBuffers) -> None:
        """logits (m, K) -> scale (softmax - one-hot(labels)), in place; the one-hot is never built."""
        m = len(labels)
        softmax_(logits, scale, ws.row_buffer)
        flat = ws.flat_index[:m]
        np.add(ws.row_offsets[:m], labels, out=flat)  # index of (row i, label i) in the flattened logits
        logits.reshape(-1)[flat] -= scale


class SigmoidCrossEntropy:
    """Binary output: one logit, the probability of class 1; logits (m, 1), labels (m,) in {0, 1}."""

    name = "sigmoid_cross_entropy"
    n_outputs = 1

    def loss_sum(self, logits: np.ndarray, labels: np.ndarray) -> float:
        z = logits[:, 0].astype(np.float64)
        # -[y log s(z) + (1-y) log(1-s(z))] = max(z, 0) - y z + log(1 + e^-|z|)
        return float(np.sum(np.maximum(z, 0) - labels * z + np.log1p(np.exp(-np.abs(z)))))

    def predict(self, logits: np.ndarray) -> np.ndarray:
        return (logits[:, 0] > 0).astype(np.intp)

    def delta_(self, logits: np.ndarray, labels: np.ndarray, scale: float, ws: DeltaBuffers) -> None:
        """logits (m, 1) -> scale (sigma(z) - y), in place."""
        sigmoid_(logits)
        logits[:, 0] -= labels
        logits *= scale


class SigmoidSquaredError(SigmoidCrossEntropy):
    """Binary output trained on the squared error (sigma(z) - y)^2."""

    name = "sigmoid_squared_error"

    def loss_sum(self, logits: np.ndarray, labels: np.ndarray) -> float:
        a = logits[:, 0].astype(np.float64)
        sigmoid_(a)
        return float(np.sum((a - labels) ** 2))

    def delta_(self, logits: np.ndarray, labels: np.ndarray, scale: float, ws: DeltaBuffers) -> None:
        """logits (m, 1) -> scale 2 (sigma(z) - y) sigma(z) (1 - sigma(z)), in place."""
        sigmoid_(logits)
        a = logits[:, 0]
        slope = a * (1.0 - a)
        a -= labels
        a *= 2.0 * scale * slope


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
