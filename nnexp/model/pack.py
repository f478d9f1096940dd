"""A pack: networks of the same layer sizes and hidden activation that read the same inputs, computed as one (each
with its own labels; without hidden layers, each possibly on its own rows of them: :mod:`nnexp.data.pack_data`).

The members' first layers are one layer of k·n_1 units: one weight matrix W (n_0, k·n_1) and one bias (k·n_1,), of
which member j's ``weights[0]`` and ``biases[0]`` are the views ``W[:, j·n_1:(j+1)·n_1]`` and
``b[j·n_1:(j+1)·n_1]``. The pack computes that layer for all members at once, as a network computes a layer: the
product ``x @ W`` (one matrix product, reading the batch once), the activation, and in the backward pass the
activation's derivative, the bias gradient and the weight gradient ``x.T @ Δ`` (Δ (m, k·n_1): the members' deltas
side by side). Every other layer, the output deltas and the optimizers are each member's own code on its views
(:meth:`MLP.forward` with ``first_done``, :meth:`MLP.backward` without ``first_layer``). A column of a matrix
product depends on that column of W alone and the rest is elementwise, so a member's numbers, a NaN too, stay its
own; they equal a network computed alone to float32 rounding (the library sums the same products in another order).
A pack of one is its network's own arrays, computed by the same operations as a network alone, to the bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nnexp.model.blas import one_blas_thread
from nnexp.model.gradient import Gradient
from nnexp.model.network import MLP, Masks, Workspace, hidden_delta_, hidden_output_, layer_gradients_

# a member's Workspace arrays that are blocks of columns of the pack's in the first layer
_STACKED = ("acts", "deltas", "scratch", "kept", "pre", "grad_w", "grad_b")


class Pack:
    """``members``, their first layers stacked (see the module's docstring); raises ValueError for networks of other
    layer sizes, dtypes or hidden activations (outputs and losses may differ: each member computes its own)."""

    def __init__(self, members: Sequence[MLP]) -> None:
        first = members[0]
        for model in members[1:]:
            if _kind(model) != _kind(first):
                raise ValueError(
                    f"a pack's networks must agree in layer sizes, dtype and hidden activation: {_kind(first)} and "
                    f"{_kind(model)}"
                )
        self.members = list(members)
        self.width = first.layer_sizes[1]  # n_1, each member's columns
        self.activation_fn = first.activation_fn
        if len(members) == 1:  # its own arrays
            self.weight, self.bias = first.weights[0], first.biases[0]
            return
        self.weight = np.concatenate([model.weights[0] for model in members], axis=1)
        self.bias = np.concatenate([model.biases[0] for model in members])
        for j, model in enumerate(members):
            model.weights[0], model.biases[0] = self.weight[:, self.columns(j)], self.bias[self.columns(j)]

    def __len__(self) -> int:
        return len(self.members)

    def columns(self, j: int) -> slice:
        """Member ``j``'s columns of the stacked first layer."""
        return slice(j * self.width, (j + 1) * self.width)

    @property
    def hidden(self) -> bool:
        """Whether the first layer is a hidden layer (else it is the output layer: no hidden layer)."""
        return len(self.members[0].weights) > 1

    def workspace(self, rows: int) -> PackWorkspace:
        return PackWorkspace(self, rows)

    def forward(
        self, x: np.ndarray, pws: PackWorkspace, masks: Sequence[Masks], members: Sequence[int]
    ) -> list[list[np.ndarray]]:
        """Each of ``members``' activations for the batch ``x`` (m, n_0) (:meth:`MLP.forward`, with its dropout
        ``masks``), the first layer computed once for the whole pack."""
        m = len(x)
        z = pws.first[:m]
        np.matmul(x, self.weight, out=z)
        if self.hidden:
            pws.mask = self._first_mask(masks, members, m)
            pre = pws.pre[:m] if pws.pre is not None else None
            hidden_output_(z, self.bias, self.activation_fn, pws.scratch[:m], pre, pws.kept[:m], pws.mask)
        else:
            z += self.bias
        return [self.members[j].forward(x, pws.members[j], mask, first_done=True) for j, mask in zip(members, masks)]

    def _first_mask(self, masks: Sequence[Masks], members: Sequence[int], rows: int) -> np.ndarray | None:
        """The first layer's dropout mask (rows, k·n_1): the members' side by side (ones for a member without
        dropout, zeros for one not training); None without dropout."""
        if all(mask is None for mask in masks):
            return None
        if len(self) == 1:
            return masks[0][0]
        stacked = np.zeros((rows, self.width * len(self)), self.weight.dtype)
        for j, mask in zip(members, masks):
            stacked[:, self.columns(j)] = 1.0 if mask is None else mask[0]
        return stacked

    def backward(self, x: np.ndarray, pws: PackWorkspace) -> list[Gradient]:
        """The first layer's part of the backward pass of the batch ``x`` (m, n_0), once every member has put its
        ``delta @ W_1.T`` (or, with no hidden layer, its output deltas) into its columns of ``pws.first_deltas``: the
        activation's derivative and dropout mask, then the gradients. Returns each member's first weight gradient:
        a pack of one, its product (:meth:`MLP.backward`); more, their column blocks of ``pws.grad_w``, formed by one
        product for all. The bias gradients are the column blocks of ``pws.grad_b``, each member's ``grad_b[0]``."""
        m = len(x)
        delta = pws.first_deltas[:m]
        if self.hidden:
            outputs = pws.first[:m] if pws.mask is None else pws.kept[:m]  # before dropout
            pre = pws.pre[:m] if pws.pre is not None else None
            hidden_delta_(delta, outputs, pre, pws.scratch[:m], self.activation_fn, pws.mask)
        product = layer_gradients_(x, delta, pws.ones[:m], pws.grad_w, pws.grad_b)
        if len(self) == 1:
            return [product]
        product.array()
        return [ws.grad_w[0] for ws in pws.members]

    def output_backward(
        self, x: np.ndarray, deltas: np.ndarray, pws: PackWorkspace, by_member: np.ndarray
    ) -> list[np.ndarray]:
        """The gradients of a pack without hidden layers from the batch ``x`` (m, n_0) and its output deltas given
        member by member, ``deltas`` (k·n_1, m) (each member's rows contiguous, as a pool gathers them): the weight
        gradients as one product ``deltas @ x`` into ``by_member`` (k·n_1, n_0), which reads ``x`` as it is stored
        (no transposed copy of the deltas), then into ``pws.grad_w``; the bias gradients into ``pws.grad_b``.
        Returns each member's weight gradient, its block of ``pws.grad_w``."""
        np.matmul(deltas, pws.ones[: len(x)], out=pws.grad_b)
        np.matmul(deltas, x, out=by_member)
        np.copyto(pws.grad_w, by_member.T)
        return [ws.grad_w[0] for ws in pws.members]

    def detach(self, j: int, workspaces: Sequence[PackWorkspace]) -> None:
        """Member ``j`` leaves the pack: it takes copies of its first layer, and its columns become zeros in the
        pack (weights, biases and the deltas of ``workspaces``), so that the pack's products give it zeros, finite,
        and change nothing of it any more."""
        model, columns = self.members[j], self.columns(j)
        model.weights[0], model.biases[0] = model.weights[0].copy(), model.biases[0].copy()
        self.weight[:, columns] = 0
        self.bias[columns] = 0
        for pws in workspaces:
            pws.first_deltas[:, columns] = 0

    def evaluate(
        self, x: np.ndarray, ys: Sequence[np.ndarray], members: Sequence[int], chunk: int = 2048
    ) -> list[tuple[float, float]]:
        """Mean loss (without the penalty) and accuracy of each of ``members`` on ``x`` (m, n_0), with its labels
        ``ys[i]`` (m,), in chunks of ``chunk`` rows (a chunk's activations stay in cache; docs/performance.md) on one
        BLAS thread: the same figures to the last bit whatever the thread settings of the caller (training, a saved
        model)."""
        pws = self.workspace(min(chunk, len(x)))
        loss_sums, correct = [0.0] * len(members), [0] * len(members)
        with one_blas_thread():
            for start in range(0, len(x), chunk):
                xc, rows = x[start : start + chunk], slice(start, start + chunk)
                for i, (j, acts) in enumerate(zip(members, self.forward(xc, pws, [None] * len(members), members))):
                    output, yc = self.members[j].output, ys[i][rows]
                    loss_sums[i] += output.loss_sum(acts[-1], yc)
                    correct[i] += int(np.count_nonzero(output.predict(acts[-1]) == yc))
        return [(loss_sum / len(x), hits / len(x)) for loss_sum, hits in zip(loss_sums, correct)]


def _kind(model: MLP) -> tuple:
    """What the members of a pack share: layer sizes, dtype and (with hidden layers) the hidden activation."""
    hidden = len(model.weights) > 1
    return model.layer_sizes, model.dtype, (model.activation, model.leaky_slope) if hidden else None


class PackWorkspace:
    """A pack's buffers for batches of up to ``rows`` samples: its first layer's outputs ``first`` (rows, k·n_1),
    deltas ``first_deltas`` (the outputs themselves when it is the output layer), scratch, pre-activations and
    outputs before dropout, its gradients ``grad_w`` (n_0, k·n_1) and ``grad_b`` (k·n_1,), and each member's
    :class:`~nnexp.model.network.Workspace` (``members``), whose first-layer arrays are blocks of columns of these.
    A pack of one uses its network's own workspace."""

    def __init__(self, pack: Pack, rows: int) -> None:
        if len(pack) == 1:
            self.members = [pack.members[0].workspace(rows)]
            own = self.members[0]
            stacked = {name: getattr(own, name)[0] for name in _STACKED if getattr(own, name)}
        else:
            model, width = pack.members[0], pack.width * len(pack)
            names = ["acts"]
            if pack.hidden:
                names += (
                    ["deltas", "scratch", "kept", "pre"]
                    if model.activation_fn.uses_input
                    else ["deltas", "scratch", "kept"]
                )
            stacked = {name: np.empty((rows, width), model.dtype) for name in names}
            stacked["grad_w"], stacked["grad_b"] = np.empty_like(pack.weight), np.empty_like(pack.bias)
            self.members = [
                Workspace(model, rows, {name: array[..., pack.columns(j)] for name, array in stacked.items()})
                for j, model in enumerate(pack.members)
            ]
        self.first, self.grad_w, self.grad_b = stacked["acts"], stacked["grad_w"], stacked["grad_b"]
        self.first_deltas = stacked["deltas"] if pack.hidden else self.first
        self.scratch, self.kept, self.pre = stacked.get("scratch"), stacked.get("kept"), stacked.get("pre")
        self.ones = self.members[0].ones
        self.mask: np.ndarray | None = None  # the first layer's dropout mask of the batch in progress
