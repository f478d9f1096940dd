"""Hidden-layer activation functions, applied in place on preallocated arrays.

Each activation's derivative is expressed through its output ``a = f(z)``, so the
backward pass needs no copy of the pre-activations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class Activation(Protocol):
    """An activation applied in place; ``tmp`` is scratch of the same shape, (m, n) like ``z``."""

    def forward_(self, z: np.ndarray, tmp: np.ndarray) -> None:
        """z (m, n) -> f(z), in place."""

    def backprop_(self, delta: np.ndarray, a: np.ndarray, tmp: np.ndarray) -> None:
        """delta (m, n) *= f'(z), from the outputs a = f(z) (m, n)."""


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


@dataclass(frozen=True)
class ActivationKind:
    """Everything nnexp knows of one activation: how to build it, and what diagnostics and figures need.

    ``saturated`` marks the unit outputs ``a`` (any shape) where the derivative nearly vanishes
    (None: the activation does not saturate); ``rectifier`` says whether a unit can die (output
    never positive, no gradient); ``color`` is its colour in every figure.
    """

    name: str
    make: Callable[[float], Activation]  # from the leaky slope (ignored by all but leaky_relu)
    saturated: Callable[[np.ndarray], np.ndarray] | None
    rectifier: bool
    color: str


_KINDS = (
    ActivationKind("sigmoid", lambda _: Sigmoid(), lambda a: (a < 0.01) | (a > 0.99), False, "tab:blue"),
    ActivationKind("tanh", lambda _: Tanh(), lambda a: np.abs(a) > 0.98, False, "tab:green"),
    ActivationKind("relu", lambda _: ReLU(), None, True, "tab:red"),
    ActivationKind("leaky_relu", LeakyReLU, None, True, "tab:purple"),
)
# The registry: the config's allowed values, the diagnostics and the figures all read it.
ACTIVATIONS: dict[str, ActivationKind] = {kind.name: kind for kind in _KINDS}


def make_activation(name: str, leaky_slope: float = 0.01) -> Activation:
    """The activation called ``name`` (a key of :data:`ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation={name!r} is not known; allowed: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name].make(leaky_slope)
