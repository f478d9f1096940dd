"""GELU (Hendrycks & Gimpel, 2016), exact: z Phi(z), Phi the standard normal CDF (``torch.nn.GELU()``)."""

from __future__ import annotations

import math

import numpy as np

from nnexp.model.activations.base import Activation

INV_SQRT2 = 1 / math.sqrt(2)
INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def normal_cdf_(z: np.ndarray) -> None:
    """Phi(z) = (1 + erf(z / sqrt 2)) / 2, in place (erf: scipy's, imported on first use: it takes 0.2 s)."""
    from scipy.special import erf

    z *= INV_SQRT2
    erf(z, out=z)
    z += 1.0
    z *= 0.5


class GELU(Activation):
    name = "gelu"
    uses_input = True

    def forward_(self, z: np.ndarray, tmp: np.ndarray) -> None:
        tmp[...] = z
        normal_cdf_(tmp)
        z *= tmp

    def backprop_(self, delta: np.ndarray, saved: np.ndarray, tmp: np.ndarray) -> None:
        """delta *= Phi(z) + z phi(z), phi(z) = e^(-z^2/2) / sqrt(2 pi) the normal density."""
        np.square(saved, out=tmp)
        tmp *= -0.5
        np.exp(tmp, out=tmp)
        tmp *= saved
        tmp *= INV_SQRT_2PI  # z phi(z)
        normal_cdf_(saved)
        saved += tmp
        delta *= saved


ACTIVATION = GELU
