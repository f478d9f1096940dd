"""Weight and bias initialisation schemes."""

from __future__ import annotations

import numpy as np

INIT_SCHEMES = ("normal", "xavier", "he", "lecun")
# zeros: every bias starts at 0; like_weights: a layer's biases are drawn as its weights are (write-up 003's "w1, b1,
# w2 and b2 are initialized with random numbers")
BIAS_INITS = ("zeros", "like_weights")


def initial_weights(scheme: str, fan_in: int, fan_out: int, rng: np.random.Generator, scale: float) -> np.ndarray:
    """A (fan_in, fan_out) float64 weight matrix drawn by ``scheme``.

    - ``normal``: N(0, scale^2), the write-ups' "small random numbers" (scale 0.01);
    - ``xavier``: U(-r, r) with r = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010);
    - ``he``: N(0, 2 / fan_in) (He et al., 2015), suited to ReLU;
    - ``lecun``: N(0, 1 / fan_in) (LeCun et al., 1998).
    """
    return _drawn(scheme, fan_in, fan_out, (fan_in, fan_out), rng, scale)


def initial_biases(
    bias_init: str, scheme: str, fan_in: int, fan_out: int, rng: np.random.Generator, scale: float
) -> np.ndarray:
    """The (fan_out,) float64 biases of a layer of ``fan_in`` inputs and ``fan_out`` units: zeros (no number drawn),
    or, for ``like_weights``, drawn from the distribution ``scheme`` draws that layer's weights from."""
    if bias_init == "zeros":
        return np.zeros(fan_out)
    if bias_init == "like_weights":
        return _drawn(scheme, fan_in, fan_out, (fan_out,), rng, scale)
    raise ValueError(f"bias_init={bias_init!r} is not known; allowed: {', '.join(BIAS_INITS)}")


def _drawn(
    scheme: str, fan_in: int, fan_out: int, shape: tuple[int, ...], rng: np.random.Generator, scale: float
) -> np.ndarray:
    """An array of ``shape`` drawn by ``scheme`` for a layer of ``fan_in`` inputs and ``fan_out`` units."""
    if scheme == "normal":
        return rng.normal(0.0, scale, size=shape)
    if scheme == "xavier":
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=shape)
    if scheme == "he":
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
    if scheme == "lecun":
        return rng.normal(0.0, np.sqrt(1.0 / fan_in), size=shape)
    raise ValueError(f"init={scheme!r} is not known; allowed: {', '.join(INIT_SCHEMES)}")
