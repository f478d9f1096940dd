"""RMSprop (Tieleman & Hinton, 2012)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from nnexp.domains import A_FRACTION, POSITIVE, Allowed
from nnexp.optim.base import Optimizer


class RMSprop(Optimizer):
    """v <- alpha v + (1 - alpha) g^2;  p <- p - lr g / (sqrt(v) + eps)  (torch.optim.RMSprop, not centred,
    no momentum)."""

    name = "rmsprop"
    BUFFERS = ("square",)
    SETTINGS: ClassVar[dict[str, float]] = {"alpha": 0.99, "eps": 1e-8}
    ALLOWED: ClassVar[dict[str, Allowed]] = {"alpha": A_FRACTION, "eps": POSITIVE}
    LR = 0.001

    def _update(self, index: int, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        alpha, eps = self.settings["alpha"], self.settings["eps"]
        square, denominator = self.buffers["square"][index], self.scratch[index]
        square *= alpha
        np.square(grad, out=denominator)
        denominator *= 1 - alpha
        square += denominator
        np.sqrt(square, out=denominator)
        denominator += eps
        grad /= denominator
        grad *= lr
        param -= grad


OPTIMIZER = RMSprop
