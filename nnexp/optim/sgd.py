"""Plain (stochastic, mini-batch or full-batch) gradient descent."""

from __future__ import annotations

import numpy as np

from nnexp.optim.base import Optimizer


class SGD(Optimizer):
    """p <- p - lr * g  (torch.optim.SGD without momentum).

    The gradients arrive already multiplied by the learning rate (:meth:`grad_scale`), so the
    step is one subtraction per parameter.
    """

    name = "sgd"

    def grad_scale(self, lr: float) -> float:
        return lr

    def _update(self, index: int, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        param -= grad


OPTIMIZER = SGD
