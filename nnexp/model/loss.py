"""Softmax and cross-entropy for integer class labels, numerically stable for any logits."""

from __future__ import annotations

import numpy as np


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
