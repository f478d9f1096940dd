"""k networks of one shape trained as one stacked model: a plain-SGD step with a leading member axis.

The benchmark's model of a pack (issue 28; docs/packs.md). Members share layer sizes, hidden
activation and output layer and differ in their weights, labels and learning rates. Two layouts:

- ``shared_rows``: every member reads the same batch x (m, n_0). The first layer is one
  (n_0, k n_1) matrix, member j's columns j n_1 .. (j+1) n_1: its forward pass is one GEMM
  ``x @ W`` reading x once, its weight update one fused ``W -= x.T @ delta`` (m, k n_1).
- own rows: member j reads its own batch x[j], x (k, m, n_0) (members shuffled by their own seeds);
  the first layer is (k, n_0, n_1) like the others.

Every later layer is (k, n_l, n_{l+1}) and runs as a batched ``np.matmul`` over the member axis
(``loop=True``: a Python loop of one matmul per member instead, and each member's weight update one
fused BLAS call where its arrays are contiguous, as nnexp's own step). A layer's outputs are (m, k n_l)
in the shared first layer, else (k, m, n_l); :meth:`StackedMLP._members` views either as (k, m, n_l).
Biases are (k, n_l). Hidden activations whose derivative needs the pre-activations are not supported.
"""

from __future__ import annotations

import numpy as np

from nnexp.model import MLP
from nnexp.model.blas import subtract_at_b_
from nnexp.model.loss import DeltaBuffers


class StackedMLP:
    """``k`` = len(members) networks of one :class:`MLP` shape as one model, for batches of up to ``rows`` rows.

    The members' parameters are copied in (the members are not changed); :meth:`member_params` copies them out.
    """

    def __init__(self, members: list[MLP], rows: int, shared_rows: bool, loop: bool = False) -> None:
        first = members[0]
        if first.activation_fn.uses_input:
            raise ValueError(f"the stacked benchmark model has no {first.activation} (needs pre-activations)")
        self.k, self.shared_rows, self.loop = len(members), shared_rows, loop
        self.sizes, self.dtype = first.layer_sizes, first.dtype
        self.activation, self.output = first.activation_fn, first.output
        n_layers = len(self.sizes) - 1
        self.weights = [np.stack([member.weights[l] for member in members]) for l in range(n_layers)]
        self.biases = [np.stack([member.biases[l] for member in members]) for l in range(n_layers)]
        if shared_rows:  # (k, n_0, n_1) -> (n_0, k n_1): member j's columns j n_1 .. (j+1) n_1
            self.weights[0] = np.ascontiguousarray(self.weights[0].transpose(1, 0, 2)).reshape(self.sizes[0], -1)
        # flat storage of each layer's outputs, hidden deltas and activation scratch, cut to m rows by _layer
        size = [self.k * rows * n for n in self.sizes[1:]]
        self.acts = [np.empty(n, self.dtype) for n in size]
        self.deltas = [np.empty(n, self.dtype) for n in size[:-1]]
        self.scratch = [np.empty(n, self.dtype) for n in size[:-1]]
        self.grad_w = [np.empty_like(w) for w in self.weights]
        self.grad_b = [np.empty_like(b) for b in self.biases]
        self.ones = np.ones(rows, self.dtype)
        self.out = DeltaBuffers(self.k * rows, self.sizes[-1], self.dtype)

    def _layer(self, store: np.ndarray, l: int, m: int) -> np.ndarray:
        """Layer ``l``'s buffer ``store`` for ``m`` rows: (m, k n) for the shared first layer, else (k, m, n)."""
        n = self.sizes[l + 1]
        used = store[: self.k * m * n]
        return used.reshape(m, self.k * n) if l == 0 and self.shared_rows else used.reshape(self.k, m, n)

    def _members(self, a: np.ndarray) -> np.ndarray:
        """A layer's array as (k, m, n): a view."""
        return a if a.ndim == 3 else a.reshape(len(a), self.k, -1).transpose(1, 0, 2)

    def _bmm(self, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
        """out[j] = a[j] @ b[j] for every member j: (k, m, p) @ (k, p, q) -> (k, m, q)."""
        if self.loop:
            for j in range(self.k):
                np.matmul(a[j], b[j], out=out[j])
        else:
            np.matmul(a, b, out=out)

    def _forward(self, x: np.ndarray) -> list[np.ndarray]:
        """Every layer's outputs for the batch ``x``, (m, n_0) shared or (k, m, n_0) own rows; the last: logits."""
        m, last = x.shape[-2], len(self.weights) - 1
        outs, a = [], x
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = self._layer(self.acts[l], l, m)
            if z.ndim == 2:
                np.matmul(a, w, out=z)
                z += b.reshape(-1)
            else:
                self._bmm(self._members(a), w, z)
                z += b[:, None, :]
            if l < last:
                self.activation.forward_(z, self._layer(self.scratch[l], l, m))
            outs.append(z)
            a = z
        return outs

    def _output_delta(self, logits: np.ndarray, y: np.ndarray, lr: np.ndarray) -> None:
        """``logits`` -> lr_j / m times the gradient of member j's summed loss, in place; labels y (k, m), lr (k,)."""
        m = y.shape[1]
        if logits.ndim == 2:  # (m, k n_out): row i of member j is row i k + j of the reshaped array
            rows, labels = logits.reshape(m * self.k, -1), y.T.reshape(-1)
        else:
            rows, labels = logits.reshape(self.k * m, -1), y.reshape(-1)
        self.output.delta_(rows, labels, 1.0 / m, self.out)
        self._members(logits)[...] *= lr.astype(self.dtype)[:, None, None]

    def sgd_step(self, x: np.ndarray, y: np.ndarray, lr: np.ndarray) -> None:
        """One plain SGD step of every member: x (m, n_0) shared or (k, m, n_0) own rows, labels y (k, m),
        learning rates lr (k,). Each layer's delta is passed down before that layer's weights change."""
        outs = self._forward(x)
        m = y.shape[1]
        delta = outs[-1]
        self._output_delta(delta, y, lr)
        for l in range(len(self.weights) - 1, -1, -1):
            if delta.ndim == 2:  # the shared first layer: one call each for the biases and the weights
                np.matmul(self.ones[:m], delta, out=self.grad_b[l].reshape(-1))
            else:
                np.matmul(self.ones[:m], delta, out=self.grad_b[l])
            self.biases[l] -= self.grad_b[l]
            below = None
            if l > 0:
                below = self._layer(self.deltas[l - 1], l - 1, m)
                self._bmm(delta, self.weights[l].transpose(0, 2, 1), self._members(below))
                self.activation.backprop_(below, outs[l - 1], self._layer(self.scratch[l - 1], l - 1, m))
            if delta.ndim == 2:
                subtract_at_b_(self.weights[0], x, delta, scratch=self.grad_w[0])
            elif self.loop:  # one fused BLAS update per member where its arrays are contiguous (own rows)
                a_prev = x if l == 0 else self._members(outs[l - 1])
                for j in range(self.k):
                    subtract_at_b_(self.weights[l][j], a_prev[j], delta[j], scratch=self.grad_w[l][j])
            else:
                a_prev = x if l == 0 else self._members(outs[l - 1])
                self._bmm(a_prev.transpose(0, 2, 1), self._members(delta), self.grad_w[l])
                self.weights[l] -= self.grad_w[l]
            delta = below

    def member_params(self, j: int) -> list[np.ndarray]:
        """Member ``j``'s weights then biases (copies), shaped as in its :class:`MLP`."""
        weights = [w[j].copy() for w in self.weights]
        if self.shared_rows:
            weights[0] = self.weights[0].reshape(self.sizes[0], self.k, -1)[:, j].copy()
        return [*weights, *(b[j].copy() for b in self.biases)]
