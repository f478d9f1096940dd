"""SiLU, or swish (Elfwing et al., 2018): z sigma(z) (``torch.nn.SiLU()``)."""

from __future__ import annotations

import numpy as np

from nnexp.model.activations.base import Activation
from nnexp.model.activations.sigmoid import sigmoid_


class SiLU(Activation):
    name = "silu"
    uses_input = True

    def forward_(self, z: np.ndarray, tmp: np.ndarray) -> None:
        tmp[...] = z
        sigmoid_(tmp)
        z *= tmp

    def backprop_(self, delta: np.ndarray, saved: np.ndarray, tmp: np.ndarray) -> None:
        """delta *= sigma(z) (1 + z sigma(-z)), the derivative of z sigma(z) (as 1 - sigma(z) = sigma(-z))."""
        np.negative(saved, out=tmp)
        sigmoid_(tmp)  # sigma(-z)
        saved *= tmp
        saved += 1.0
        np.subtract(1.0, tmp, out=tmp)  # sigma(z)
        saved *= tmp
        delta *= saved


ACTIVATION = SiLU
