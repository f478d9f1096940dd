"""N(0, scale^2): the write-ups' "small random numbers" (scale 0.01)."""

from __future__ import annotations

import numpy as np

from nnexp.model.init.base import InitScheme


def _draw(fan_in: int, fan_out: int, shape: tuple[int, ...], rng: np.random.Generator, scale: float) -> np.ndarray:
    return rng.normal(0.0, scale, size=shape)


INIT = InitScheme("normal", _draw, "N(0, init_scale^2)")
