"""Hidden-layer activation functions, applied in place on preallocated arrays.

Each activation's derivative is expressed through its output ``a = f(z)``, so the
backward pass needs no copy of the pre-activations.
"""

from __future__ import annotations

import numpy as np


def sigmoid_(z: np.ndarray) -> None:
    """sigma(z) = 1 / (1 + e^-z) in place, computed as (1 + tanh(z/2)) / 2: no overflow for any z."""
    z *= 0.5
    np.tanh(z, out=z)
    z *= 0.5
    z += 0.5


class Sigmoid:
    """The logistic sigmoid."""

    def forward_(self, z: np.ndarray, tmp: np.ndarray) -> None:
        sigmoid_(z)

    def backprop_(self, delta: np.ndarray, a: np.ndarray, tmp: np.ndarray) -> None:
        """delta *= sigma'(z) = a (1 - a)."""
        np.subtract(1.0, a, out=tmp)
        tmp *= a
        delta *= tmp


class Tanh:
    """tanh(z)."""

    def forward_(self, z: np.ndarray, tmp: np.ndarray) -> None:
        np.tanh(z, out=z)

    def backprop_(self, delta: np.ndarray, a: np.ndarray, tmp: np.ndarray) -> None:
        """delta *= 1 - a^2."""
        np.square(a, out=tmp)
        np.subtract(1.0, tmp, out=tmp)
        delta *= tmp


class ReLU:
    """max(z, 0); derivative 0 at z <= 0."""

    def forward_(self, z: np.ndarray, tmp: np.ndarray) -> None:
        np.maximum(z, 0.0, out=z)

    def backprop_(self, delta: np.ndarray, a: np.ndarray, tmp: np.ndarray) -> None:
        np.greater(a, 0.0, out=tmp)
        delta *= tmp


class LeakyReLU:
    """z for z > 0, slope * z otherwise (0 < slope < 1)."""

    def __init__(self, slope: float) -> None:
        self.slope = slope

    def forward_(self, z: np.ndarray, tmp: np.ndarray) -> None:
        np.multiply(z, self.slope, out=tmp)
        np.maximum(z, tmp, out=z)

    def backprop_(self, delta: np.ndarray, a: np.ndarray, tmp: np.ndarray) -> None:
        np.greater(a, 0.0, out=tmp)
        tmp *= 1.0 - self.slope
        tmp += self.slope
        delta *= tmp


ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu")


def make_activation(name: str, leaky_slope: float = 0.01) -> Sigmoid | Tanh | ReLU | LeakyReLU:
    """The activation called ``name`` (one of :data:`ACTIVATIONS`)."""
    if name == "leaky_relu":
        return LeakyReLU(leaky_slope)
    table = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU}
    if name not in table:
        raise ValueError(f"activation={name!r} is not known; allowed: {', '.join(ACTIVATIONS)}")
    return table[name]()
