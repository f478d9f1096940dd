"""Nesterov momentum, in the form torch.optim uses."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from nnexp.domains import A_FRACTION, Allowed
from nnexp.optim.base import Optimizer


class Nesterov(Optimizer):
    """b <- mu * b + g;  p <- p - lr * (g + mu * b)  (torch.optim.SGD with momentum=mu, nesterov=True)."""

    name = "nesterov"
    BUFFERS = ("velocity",)
    SETTINGS: ClassVar[dict[str, float]] = {"momentum": 0.9}
    ALLOWED: ClassVar[dict[str, Allowed]] = {"momentum": A_FRACTION}
    LR = 0.01  # with momentum 0.9 the effective step is 10 times lr

    def _update(self, index: int, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        mu, velocity = self.settings["momentum"], self.buffers["velocity"][index]
        velocity *= mu
        velocity += grad
        grad *= lr  # p -= lr g + lr mu b, in place
        param -= grad
        np.multiply(velocity, lr * mu, out=grad)
        param -= grad


OPTIMIZER = Nesterov
