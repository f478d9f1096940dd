"""The registry of activations: every module of this package that defines ``ACTIVATION``."""

from __future__ import annotations

import nnexp.model.activations as activations
from nnexp.discovery import defined_in
from nnexp.model.activations.base import Activation

# The registry, by name (alphabetical): the config's allowed values and the diagnostics read it.
ACTIVATIONS: dict[str, type[Activation]] = {kind.name: kind for kind in defined_in(activations, "ACTIVATION")}


def make_activation(name: str, leaky_slope: float = 0.01) -> Activation:
    """The activation called ``name`` (a key of :data:`ACTIVATIONS`); ``leaky_slope`` for those that take one."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation={name!r} is not known; allowed: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name](leaky_slope)
