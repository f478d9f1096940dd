"""Output layers with their losses, numerically stable for any logits.

- :class:`SoftmaxCrossEntropy` (``output=softmax``): K classes, softmax + cross-entropy, labels 0..K-1;
- :class:`SigmoidCrossEntropy` (``output=sigmoid, loss=cross_entropy``): one sigmoid unit per output,
  each with its binary cross-entropy; the per-sample loss is the sum over the units;
- :class:`SigmoidSquaredError` (``output=sigmoid, loss=mse``): the quadratic cost
  C = sum over the units of (sigma(z) - t)^2 per sample (no 1/2 factor).

A binary task (``task=one_vs_all``) has one sigmoid unit whose target t is the label (0/1); a
multi-class sigmoid output has one unit per class, with targets t = one-hot(label). Every loss
is reported and differentiated as the mean over the batch of the per-sample loss.

Each turns the output logits of a batch, in place, into ``scale`` times the gradient of the
*summed* loss with respect to those logits (``delta_``); the network passes ``scale`` = 1 / batch
size for the mean loss's gradient (1 for the summed one: ``grad_reduction=sum``).
"""

from __future__ import annotations

import numpy as np

from nnexp.model.activations.sigmoid import sigmoid_

OUTPUTS = ("softmax", "sigmoid")
LOSSES = ("cross_entropy", "mse")


class DeltaBuffers:
    """Preallocated arrays an output layer uses while computing the deltas of batches of up to ``rows`` rows of
    ``n_outputs`` units (a network's :class:`~nnexp.model.network.Workspace` is one)."""

    def __init__(self, rows: int, n_outputs: int, dtype: np.dtype | str) -> None:
        self.row_buffer = np.empty((rows, 1), dtype)  # a row's maximum or sum
        self.flat_index = np.empty(rows, np.intp)
        self.row_numbers = np.arange(rows)
        self.row_offsets = self.row_numbers * n_outputs  # i * number of outputs
        self.out_scratch = np.empty((rows, n_outputs), dtype)


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


def _subtract_targets_(a: np.ndarray, labels: np.ndarray, ws: DeltaBuffers) -> None:
    """a (m, n) -> a - t in place, t the targets of ``labels`` (m,): the label itself for one unit,
    one-hot(label) for one unit per class (never built)."""
    if a.shape[1] == 1:
        a[:, 0] -= labels
        return
    _subtract_at_labels_(a, labels, 1.0, ws)


def _subtract_at_labels_(a: np.ndarray, labels: np.ndarray, value: float, ws: DeltaBuffers) -> None:
    """a[i, labels[i]] -= value for every row i of ``a`` (m, n): through the flattened array (one index per row,
    from ``ws``), or, for a pack member's block of columns (no flat view), by row and column."""
    m = len(labels)
    if not a.flags.c_contiguous:
        a[ws.row_numbers[:m], labels] -= value
        return
    flat = ws.flat_index[:m]
    np.add(ws.row_offsets[:m], labels, out=flat)  # index of (row i, label i) in the flattened array
    a.reshape(-1)[flat] -= value


def _targets(labels: np.ndarray, n_outputs: int) -> np.ndarray:
    """The targets (m, n_outputs) of ``labels`` (m,), in float64."""
    if n_outputs == 1:
        return labels.astype(np.float64)[:, None]
    return np.eye(n_outputs)[labels]


class SoftmaxCrossEntropy:
    """Multi-class output: one logit per class; logits (m, K), labels (m,) in 0..K-1."""

    name = "softmax_cross_entropy"

    def __init__(self, n_outputs: int) -> None:
        self.n_outputs = n_outputs

    def loss_sum(self, logits: np.ndarray, labels: np.ndarray) -> float:
        return cross_entropy_sum(logits, labels)

    def predict(self, logits: np.ndarray) -> np.ndarray:
        return logits.argmax(axis=1)

    def delta_(self, logits: np.ndarray, labels: np.ndarray, scale: float, ws: DeltaBuffers) -> None:
        """logits (m, K) -> scale (softmax - one-hot(labels)), in place; the one-hot is never built."""
        softmax_(logits, scale, ws.row_buffer)
        _subtract_at_labels_(logits, labels, scale, ws)


class SigmoidCrossEntropy:
    """Sigmoid units, each with its binary cross-entropy; logits (m, n), labels (m,) (0/1 for n = 1, else 0..n-1)."""

    name = "sigmoid_cross_entropy"

    def __init__(self, n_outputs: int = 1) -> None:
        self.n_outputs = n_outputs

    def loss_sum(self, logits: np.ndarray, labels: np.ndarray) -> float:
        z, t = logits.astype(np.float64), _targets(labels, self.n_outputs)
        # -[t log s(z) + (1-t) log(1-s(z))] = max(z, 0) - t z + log(1 + e^-|z|)
        return float(np.sum(np.maximum(z, 0) - t * z + np.log1p(np.exp(-np.abs(z)))))

    def predict(self, logits: np.ndarray) -> np.ndarray:
        if self.n_outputs == 1:
            return (logits[:, 0] > 0).astype(np.intp)
        return logits.argmax(axis=1)

    def delta_(self, logits: np.ndarray, labels: np.ndarray, scale: float, ws: DeltaBuffers) -> None:
        """logits (m, n) -> scale (sigma(z) - t), in place."""
        sigmoid_(logits)
        _subtract_targets_(logits, labels, ws)
        logits *= scale


class SigmoidSquaredError(SigmoidCrossEntropy):
    """Sigmoid units trained on the quadratic cost sum_k (sigma(z_k) - t_k)^2 per sample."""

    name = "sigmoid_squared_error"

    def loss_sum(self, logits: np.ndarray, labels: np.ndarray) -> float:
        a = logits.astype(np.float64)
        sigmoid_(a)
        return float(np.sum((a - _targets(labels, self.n_outputs)) ** 2))

    def delta_(self, logits: np.ndarray, labels: np.ndarray, scale: float, ws: DeltaBuffers) -> None:
        """logits (m, n) -> scale 2 (sigma(z) - t) sigma(z) (1 - sigma(z)), in place."""
        sigmoid_(logits)
        slope = ws.out_scratch[: len(labels)]
        np.subtract(1.0, logits, out=slope)
        slope *= logits
        slope *= 2.0 * scale
        _subtract_targets_(logits, labels, ws)
        logits *= slope


def n_outputs(n_classes: int) -> int:
    """Output units for ``n_classes`` classes: one sigmoid unit for two, one unit per class otherwise."""
    return 1 if n_classes == 2 else n_classes


def make_output(output: str, loss: str, n_outputs: int) -> SoftmaxCrossEntropy | SigmoidCrossEntropy:
    """The output layer ``output`` (softmax, sigmoid) trained with ``loss`` on ``n_outputs`` units.

    One unit is always a sigmoid (the binary task); softmax takes cross-entropy only.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is not known; allowed: {', '.join(LOSSES)}")
    if output not in OUTPUTS:
        raise ValueError(f"output={output!r} is not known; allowed: {', '.join(OUTPUTS)}")
    if output == "sigmoid" or n_outputs == 1:
        return SigmoidCrossEntropy(n_outputs) if loss == "cross_entropy" else SigmoidSquaredError(n_outputs)
    if loss == "mse":
        raise ValueError("loss=mse needs sigmoid outputs (output=sigmoid, or task=one_vs_all)")
    return SoftmaxCrossEntropy(n_outputs)
