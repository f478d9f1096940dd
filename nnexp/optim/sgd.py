"""Plain (stochastic, mini-batch or full-batch) gradient descent."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nnexp.model.gradient import Gradient, ProductGradient
from nnexp.optim.base import Optimizer


class SGD(Optimizer):
    """p <- p - lr * g  (torch.optim.SGD without momentum)."""

    name = "sgd"

    def step(self, grads: Sequence[Gradient], lr: float) -> None:
        """A weight gradient still a product is subtracted inside it, one BLAS call that forms nothing
        (:meth:`ProductGradient.descend`); every other is :meth:`_update`'s."""
        self.steps += 1
        for index, (param, grad) in enumerate(zip(self.params, grads)):
            if isinstance(grad, ProductGradient):
                grad.descend(param, lr)
            else:
                self._update(index, param, grad, lr)

    def _update(self, index: int, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        grad *= lr  # scratch: no temporary
        param -= grad


OPTIMIZER = SGD
