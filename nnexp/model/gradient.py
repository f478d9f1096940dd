"""A gradient as the backward pass hands it to an optimizer: an array, or a dense layer's weight gradient still as
the product of its factors.

The weight gradient of a layer with input ``a`` (m, n_in) and delta ``delta`` (m, n_out) is ``a.T @ delta``
(n_in, n_out). An optimizer that needs it whole forms it (:func:`formed`); plain gradient descent subtracts it from
the weight inside that product instead, one BLAS call that writes no gradient (:meth:`ProductGradient.descend`,
:func:`nnexp.model.blas.subtract_at_b_`). Either way it is the same gradient: the choice is the optimizer's.
"""

from __future__ import annotations

import numpy as np

from nnexp.model.blas import subtract_at_b_


class ProductGradient:
    """The weight gradient ``a.T @ delta`` (n_in, n_out) of input ``a`` (m, n_in) and ``delta`` (m, n_out), formed
    into ``out`` (n_in, n_out) when asked. Valid until the workspace holding its factors serves the next batch."""

    __slots__ = ("a", "delta", "out")

    def __init__(self, a: np.ndarray, delta: np.ndarray, out: np.ndarray) -> None:
        self.a, self.delta, self.out = a, delta, out

    def array(self) -> np.ndarray:
        """The gradient formed: ``out``, overwritten."""
        return np.matmul(self.a.T, self.delta, out=self.out)

    def descend(self, weight: np.ndarray, lr: float) -> None:
        """``weight -= lr * a.T @ delta`` in place, inside the product (``out`` serves only NumPy's fallback)."""
        subtract_at_b_(weight, self.a, self.delta, self.out, lr)


Gradient = np.ndarray | ProductGradient


def formed(grad: Gradient) -> np.ndarray:
    """``grad`` as an array (a :class:`ProductGradient` formed into its ``out``)."""
    return grad.array() if isinstance(grad, ProductGradient) else grad
