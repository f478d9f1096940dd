"""The hyperbolic tangent."""

from __future__ import annotations

import numpy as np

from nnexp.model.activations.base import Activation


class Tanh(Activation):
    name = "tanh"

    def forward_(self, z: np.ndarray, tmp: np.ndarray) -> None:
        np.tanh(z, out=z)

    def backprop_(self, delta: np.ndarray, saved: np.ndarray, tmp: np.ndarray) -> None:
        """delta *= 1 - a^2."""
        np.square(saved, out=tmp)
        np.subtract(1.0, tmp, out=tmp)
        delta *= tmp

    def saturated(self, a: np.ndarray) -> np.ndarray:
        return np.abs(a) > 0.98


ACTIVATION = Tanh
