"""The optimizers nnexp knows, by name: every module of :mod:`nnexp.optim` that names an ``OPTIMIZER``."""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np

import nnexp.optim as optim
from nnexp.optim.base import Optimizer


def _discover() -> dict[str, type[Optimizer]]:
    found = {}
    for info in sorted(pkgutil.iter_modules(optim.__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{optim.__name__}.{info.name}")
        if hasattr(module, "OPTIMIZER"):
            found[module.OPTIMIZER.name] = module.OPTIMIZER
    return found


# By name, alphabetical: the config's optimizer=... choices, its settings and the help page come from here.
OPTIMIZERS: dict[str, type[Optimizer]] = _discover()


def make_optimizer(name: str, params: list[np.ndarray], settings: dict[str, float]) -> Optimizer:
    """The optimizer ``name`` over ``params`` with ``settings`` (its own only; see ``SETTINGS`` of each)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer={name} is not known; allowed: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, **settings)
