"""N(0, 1 / fan_in) (LeCun et al., 1998)."""

from __future__ import annotations

import numpy as np

from nnexp.model.init.base import InitScheme


def _draw(fan_in: int, fan_out: int, shape: tuple[int, ...], rng: np.random.Generator, scale: float) -> np.ndarray:
    return rng.normal(0.0, np.sqrt(1.0 / fan_in), size=shape)


INIT = InitScheme("lecun", _draw, "N(0, 1/fan_in)")
