"""Plain (stochastic, mini-batch or full-batch) gradient descent."""

from __future__ import annotations

from collections.abc import Sequence

from nnexp.model.gradient import Gradient, ProductGradient
from nnexp.optim.base import Optimizer


class SGD(Optimizer):
    """p <- p - lr * g  (torch.optim.SGD without momentum)."""

    name = "sgd"

    def step(self, grads: Sequence[Gradient], lr: float) -> None:
        """A weight gradient still a product is subtracted inside it, one BLAS call that forms nothing
        (:meth:`ProductGradient.descend`); every other, an array, is scaled in place (it is scratch) and subtracted."""
        self.steps += 1
        for param, grad in zip(self.params, grads):  # (the per-sample loop's hot path: no call it can do without)
            if type(grad) is ProductGradient:
                grad.descend(param, lr)
            else:
                grad *= lr
                param -= grad


OPTIMIZER = SGD
