"""The logistic sigmoid, sigma(z) = 1 / (1 + e^-z)."""

from __future__ import annotations

import numpy as np

from nnexp.model.activations.base import Activation


def sigmoid_(z: np.ndarray) -> None:
    """sigma(z) in place, computed as (1 + tanh(z/2)) / 2: no overflow for any z."""
    z *= 0.5
    np.tanh(z, out=z)
    z *= 0.5
    z += 0.5


class Sigmoid(Activation):
    name = "sigmoid"

    def forward_(self, z: np.ndarray, tmp: np.ndarray) -> None:
        sigmoid_(z)

    def backprop_(self, delta: np.ndarray, saved: np.ndarray, tmp: np.ndarray) -> None:
        """delta *= sigma'(z) = a (1 - a)."""
        np.subtract(1.0, saved, out=tmp)
        tmp *= saved
        delta *= tmp

    def saturated(self, a: np.ndarray) -> np.ndarray:
        return (a < 0.01) | (a > 0.99)


ACTIVATION = Sigmoid
