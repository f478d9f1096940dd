"""The leaky rectifier: z for z > 0, slope * z otherwise (0 < slope < 1, the setting ``leaky_slope``)."""

from __future__ import annotations

import numpy as np

from nnexp.model.activations.base import Activation


class LeakyReLU(Activation):
    name = "leaky_relu"
    rectifier = True

    def __init__(self, leaky_slope: float = 0.01) -> None:
        self.slope = leaky_slope

    def forward_(self, z: np.ndarray, tmp: np.ndarray) -> None:
        np.multiply(z, self.slope, out=tmp)
        np.maximum(z, tmp, out=z)

    def backprop_(self, delta: np.ndarray, saved: np.ndarray, tmp: np.ndarray) -> None:
        np.greater(saved, 0.0, out=tmp)
        tmp *= 1.0 - self.slope
        tmp += self.slope
        delta *= tmp


ACTIVATION = LeakyReLU
