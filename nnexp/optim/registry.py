"""The optimizers nnexp knows, by name: the config's ``optimizer=...`` choices come from here."""

from __future__ import annotations

import numpy as np

from nnexp.optim.adam import Adam
from nnexp.optim.base import Optimizer
from nnexp.optim.momentum import Momentum
from nnexp.optim.nesterov import Nesterov
from nnexp.optim.rmsprop import RMSprop
from nnexp.optim.sgd import SGD

OPTIMIZERS: dict[str, type[Optimizer]] = {cls.name: cls for cls in (SGD, Momentum, Nesterov, Adam, RMSprop)}


def make_optimizer(name: str, params: list[np.ndarray], settings: dict[str, float]) -> Optimizer:
    """The optimizer ``name`` over ``params`` with ``settings`` (its own only; see ``SETTINGS`` of each)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer={name} is not known; allowed: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, **settings)
