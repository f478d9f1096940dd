"""Heavy-ball momentum."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from nnexp.domains import A_FRACTION, Allowed
from nnexp.optim.base import Optimizer


class Momentum(Optimizer):
    """b <- mu * b + g;  p <- p - lr * b  (torch.optim.SGD with momentum=mu, dampening 0; b starts at 0,
    so the first step is b = g as in torch)."""

    name = "momentum"
    BUFFERS = ("velocity",)
    SETTINGS: ClassVar[dict[str, float]] = {"momentum": 0.9}
    ALLOWED: ClassVar[dict[str, Allowed]] = {"momentum": A_FRACTION}
    LR = 0.01  # with momentum 0.9 the effective step is 10 times lr

    def _update(self, index: int, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        velocity = self.buffers["velocity"][index]
        velocity *= self.settings["momentum"]
        velocity += grad
        np.multiply(velocity, lr, out=grad)
        param -= grad


OPTIMIZER = Momentum
