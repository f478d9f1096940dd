"""What a hidden-layer activation is to nnexp: a function applied in place, and its derivative."""

from __future__ import annotations

from typing import ClassVar

import numpy as np


class Activation:
    """An activation f applied in place on preallocated arrays; ``tmp`` is scratch shaped like the batch (m, n).

    Backpropagation multiplies the deltas by f'(z). Most activations express f' through the outputs
    a = f(z), which the network keeps anyway; one that needs the pre-activations z (GELU, SiLU) sets
    ``uses_input``, and the network then keeps z too, in a buffer ``backprop_`` may overwrite.
    """

    name: ClassVar[str]
    uses_input: ClassVar[bool] = False  # backprop_ gets the pre-activations z, else the outputs a
    rectifier: ClassVar[bool] = False  # a unit can die: output never positive, no gradient

    def __init__(self, leaky_slope: float = 0.01) -> None:
        """``leaky_slope``: the negative slope, for the activations that have one."""

    def forward_(self, z: np.ndarray, tmp: np.ndarray) -> None:
        """z (m, n) -> f(z), in place."""
        raise NotImplementedError

    def backprop_(self, delta: np.ndarray, saved: np.ndarray, tmp: np.ndarray) -> None:
        """delta (m, n) *= f'(z), from ``saved`` (m, n): the pre-activations z (``uses_input``; may be
        overwritten), else the outputs a = f(z) (read only)."""
        raise NotImplementedError

    def saturated(self, a: np.ndarray) -> np.ndarray | None:
        """Where the outputs ``a`` (any shape) sit on a flat part, the derivative nearly zero; None: it has none."""
        return None
