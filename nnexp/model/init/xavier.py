"""U(-r, r) with r = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""

from __future__ import annotations

import numpy as np

from nnexp.model.init.base import InitScheme


def _draw(fan_in: int, fan_out: int, shape: tuple[int, ...], rng: np.random.Generator, scale: float) -> np.ndarray:
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


INIT = InitScheme("xavier", _draw, "Glorot uniform")
