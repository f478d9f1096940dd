"""What a weight initialisation scheme is to nnexp: how a layer's numbers are drawn."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class InitScheme:
    """One scheme: ``draw(fan_in, fan_out, shape, rng, scale)`` is a float64 array of ``shape`` drawn for a layer of
    ``fan_in`` inputs and ``fan_out`` units (``scale``: the setting ``init_scale``, for the schemes that take it);
    ``formula`` the distribution as the help page writes it."""

    name: str
    draw: Callable[[int, int, tuple[int, ...], np.random.Generator, float], np.ndarray]
    formula: str
