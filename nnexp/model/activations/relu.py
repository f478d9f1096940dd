"""The rectifier, max(z, 0); derivative 0 at z <= 0."""

from __future__ import annotations

import numpy as np

from nnexp.model.activations.base import Activation


class ReLU(Activation):
    name = "relu"
    rectifier = True

    def forward_(self, z: np.ndarray, tmp: np.ndarray) -> None:
        np.maximum(z, 0.0, out=z)

    def backprop_(self, delta: np.ndarray, saved: np.ndarray, tmp: np.ndarray) -> None:
        np.greater(saved, 0.0, out=tmp)
        delta *= tmp


ACTIVATION = ReLU
