"""The registry of activations: every module of this package that defines ``ACTIVATION``."""

from __future__ import annotations

import importlib
import pkgutil

import nnexp.model.activations as activations
from nnexp.model.activations.base import Activation


def _discover() -> dict[str, type[Activation]]:
    found = {}
    for info in sorted(pkgutil.iter_modules(activations.__path__), key=lambda info: info.name):
        if info.name not in ("base", "registry"):
            kind = importlib.import_module(f"{activations.__name__}.{info.name}").ACTIVATION
            found[kind.name] = kind
    return found


# The registry, by name (alphabetical): the config's allowed values and the diagnostics read it.
ACTIVATIONS: dict[str, type[Activation]] = _discover()


def make_activation(name: str, leaky_slope: float = 0.01) -> Activation:
    """The activation called ``name`` (a key of :data:`ACTIVATIONS`); ``leaky_slope`` for those that take one."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation={name!r} is not known; allowed: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name](leaky_slope)
