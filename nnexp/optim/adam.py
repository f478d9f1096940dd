"""Adam (Kingma & Ba, 2015)."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from nnexp.domains import A_FRACTION, POSITIVE, Allowed
from nnexp.optim.base import Optimizer


class Adam(Optimizer):
    """At step t:  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)  (torch.optim.Adam, no weight decay)."""

    name = "adam"
    BUFFERS = ("mean", "square")
    SETTINGS: ClassVar[dict[str, float]] = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    ALLOWED: ClassVar[dict[str, Allowed]] = {"beta1": A_FRACTION, "beta2": A_FRACTION, "eps": POSITIVE}
    LR = 0.001  # its usual rate

    def _update(self, index: int, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        beta1, beta2, eps = self.settings["beta1"], self.settings["beta2"], self.settings["eps"]
        mean, square, scratch = self.buffers["mean"][index], self.buffers["square"][index], self.scratch[index]
        mean *= beta1
        np.multiply(grad, 1 - beta1, out=scratch)
        mean += scratch
        square *= beta2
        np.square(grad, out=grad)
        grad *= 1 - beta2
        square += grad
        np.sqrt(square, out=grad)  # grad is scratch from here on: the denominator
        grad /= math.sqrt(1 - beta2**self.steps)
        grad += eps
        np.divide(mean, grad, out=grad)
        grad *= lr / (1 - beta1**self.steps)
        param -= grad


OPTIMIZER = Adam
