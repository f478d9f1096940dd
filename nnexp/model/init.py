"""Weight initialisation schemes."""

from __future__ import annotations

import numpy as np

INIT_SCHEMES = ("normal", "xavier", "he", "lecun")


def initial_weights(scheme: str, fan_in: int, fan_out: int, rng: np.random.Generator, scale: float) -> np.ndarray:
    """A (fan_in, fan_out) float64 weight matrix drawn by ``scheme``.

    - ``normal``: N(0, scale^2), the write-ups' "small random numbers" (scale 0.01);
    - ``xavier``: U(-r, r) with r = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010);
    - ``he``: N(0, 2 / fan_in) (He et al., 2015), suited to ReLU;
    - ``lecun``: N(0, 1 / fan_in) (LeCun et al., 1998).
    """
    if scheme == "normal":
        return rng.normal(0.0, scale, size=(fan_in, fan_out))
    if scheme == "xavier":
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=(fan_in, fan_out))
    if scheme == "he":
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
    if scheme == "lecun":
        return rng.normal(0.0, np.sqrt(1.0 / fan_in), size=(fan_in, fan_out))
    raise ValueError(f"init={scheme!r} is not known; allowed: {', '.join(INIT_SCHEMES)}")
