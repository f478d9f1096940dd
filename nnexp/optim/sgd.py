"""Plain (stochastic, mini-batch or full-batch) gradient descent."""

from __future__ import annotations

import numpy as np

from nnexp.optim.base import Optimizer


class SGD(Optimizer):
    """p <- p - lr * g  (torch.optim.SGD without momentum)."""

    name = "sgd"

    def _update(self, index: int, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        grad *= lr  # scratch: no temporary
        param -= grad


OPTIMIZER = SGD
