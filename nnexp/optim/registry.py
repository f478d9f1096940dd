"""The optimizers nnexp knows, by name: every module of :mod:`nnexp.optim` that names an ``OPTIMIZER``."""

from __future__ import annotations

import numpy as np

import nnexp.optim as optim
from nnexp.discovery import defined_in
from nnexp.optim.base import Optimizer

# By name, alphabetical: the config's optimizer=... choices, its settings and the help page come from here.
OPTIMIZERS: dict[str, type[Optimizer]] = {kind.name: kind for kind in defined_in(optim, "OPTIMIZER")}


def make_optimizer(name: str, params: list[np.ndarray], settings: dict[str, float]) -> Optimizer:
    """The optimizer ``name`` over ``params`` with ``settings`` (its own only; see ``SETTINGS`` of each)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer={name} is not known; allowed: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, **settings)
