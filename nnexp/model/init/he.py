"""N(0, 2 / fan_in) (He et al., 2015), suited to ReLU."""

from __future__ import annotations

import numpy as np

from nnexp.model.init.base import InitScheme


def _draw(fan_in: int, fan_out: int, shape: tuple[int, ...], rng: np.random.Generator, scale: float) -> np.ndarray:
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)


INIT = InitScheme("he", _draw, "N(0, 2/fan_in)")
