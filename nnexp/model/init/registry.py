"""The initialisation schemes nnexp knows, by name: every module of :mod:`nnexp.model.init` that names an ``INIT``;
and how a layer's weights and biases are drawn by them."""

from __future__ import annotations

import numpy as np

import nnexp.model.init as init
from nnexp.discovery import defined_in
from nnexp.model.init.base import InitScheme

# By name, alphabetical: the config's init=... choices and the help page come from here.
INIT_SCHEMES: dict[str, InitScheme] = {scheme.name: scheme for scheme in defined_in(init, "INIT")}
# zeros: every bias starts at 0; like_weights: a layer's biases are drawn as its weights are (write-up 003's "the
# parameters w1, w2, b1 and b2 are initialized with random numbers")
BIAS_INITS = ("zeros", "like_weights")


def _scheme(name: str) -> InitScheme:
    if name not in INIT_SCHEMES:
        raise ValueError(f"init={name!r} is not known; allowed: {', '.join(INIT_SCHEMES)}")
    return INIT_SCHEMES[name]


def initial_weights(scheme: str, fan_in: int, fan_out: int, rng: np.random.Generator, scale: float) -> np.ndarray:
    """A (fan_in, fan_out) float64 weight matrix drawn by ``scheme`` (``scale``: ``init_scale``, for ``normal``)."""
    return _scheme(scheme).draw(fan_in, fan_out, (fan_in, fan_out), rng, scale)


def initial_biases(
    bias_init: str, scheme: str, fan_in: int, fan_out: int, rng: np.random.Generator, scale: float
) -> np.ndarray:
    """The (fan_out,) float64 biases of a layer of ``fan_in`` inputs and ``fan_out`` units: zeros (no number drawn),
    or, for ``like_weights``, drawn from the distribution ``scheme`` draws that layer's weights from."""
    if bias_init == "zeros":
        return np.zeros(fan_out)
    if bias_init == "like_weights":
        return _scheme(scheme).draw(fan_in, fan_out, (fan_out,), rng, scale)
    raise ValueError(f"bias_init={bias_init!r} is not known; allowed: {', '.join(BIAS_INITS)}")
