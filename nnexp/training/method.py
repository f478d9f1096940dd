"""How a network is trained, and one training step: gradients (with the L2 penalty and dropout) and the
optimizer's update."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from nnexp.model import MLP
from nnexp.model.gradient import Gradient, formed
from nnexp.model.network import Masks, Workspace
from nnexp.model.pack import Pack, PackWorkspace
from nnexp.optim import learning_rate, make_optimizer


@dataclass(frozen=True)
class Method:
    """The training method: optimizer and its settings, learning rate and its per-epoch schedule, L2 weight
    decay, dropout, early stopping (``patience`` 0: off), how a batch's gradients combine (``grad_reduction`` mean or
    sum) and which output-layer weight gradient is taken (``output_grad`` exact or printed: :meth:`MLP.backward`).
    Settings left out take their defaults."""

    lr: float = 0.1
    optimizer: str = "sgd"
    optimizer_settings: Mapping[str, float] = field(default_factory=dict)
    lr_schedule: str = "constant"
    schedule_settings: Mapping[str, float | int | None] = field(default_factory=dict)
    weight_decay: float = 0.0
    dropout: float = 0.0
    patience: int = 0
    stop_metric: str = "val_loss"
    min_delta: float = 0.0
    grad_reduction: str = "mean"
    output_grad: str = "exact"

    def learning_rate(self, epoch: int, epochs: int) -> float:
        """The learning rate of ``epoch`` (1-based) of ``epochs``."""
        return learning_rate(self.lr_schedule, self.lr, epoch - 1, epochs, dict(self.schedule_settings))


class Stepper:
    """Training steps of a pack of ``models`` (:class:`~nnexp.model.pack.Pack`: one network, or several of the
    same layer sizes that read the same batches) on batches of up to ``rows`` rows: model j is trained with
    ``methods[j]`` (its optimizer, its state, its buffers) and draws its dropout masks from ``rngs[j]``.

    ``subsets[j]`` (n_j,), if given, are the rows of every batch model j trains on (the others are not its own: a
    pool, :mod:`nnexp.data.pack_data`), for a pack whose first layer is its output layer: its logits of those rows
    are gathered, turned into its output deltas, and put back among zeros, so that the pack's product sums its own
    rows' gradients only. The gathering and scattering go through ``by_member`` (k·n_out, rows): the pack's logits
    of the last forward pass (then its deltas), each member's in contiguous rows, which the weight gradients' product
    reads as they are (:meth:`Pack.output_backward`, into ``grad_by_member`` (k·n_out, n_in)).

    Each member's gradients (:meth:`MLP.backward`, the first layer's from the pack) get the penalty's gradient
    weight_decay * W added, if any, and go to its optimizer. ``active`` lists the members still training
    (:meth:`retire`).
    """

    def __init__(
        self,
        models: Sequence[MLP],
        methods: Sequence[Method],
        rows: int,
        rngs: Sequence[np.random.Generator],
        subsets: Sequence[np.ndarray | None] | None = None,
    ) -> None:
        self.pack = Pack(models)
        subsets = subsets or [None] * len(models)
        self.pooled = any(subset is not None for subset in subsets)
        if self.pooled and self.pack.hidden:
            raise ValueError("members train on rows of their own only in a pack without hidden layers")
        self.ws = self.pack.workspace(rows)
        self.by_member = np.empty((self.pack.weight.shape[1], rows), self.pack.weight.dtype) if self.pooled else None
        self.grad_by_member = np.empty(self.pack.weight.shape[::-1], self.pack.weight.dtype) if self.pooled else None
        self.members = [
            _MemberSteps(model, method, rng, ws, subset)
            for model, method, rng, ws, subset in zip(models, methods, rngs, self.ws.members, subsets)
        ]
        self.active = list(range(len(models)))

    def masks(self, rows: int) -> list[Masks]:
        """The active members' dropout masks for a batch of ``rows`` (:meth:`_MemberSteps.masks`)."""
        return [self.members[j].masks(rows) for j in self.active]

    def forward(self, x: np.ndarray, masks: Sequence[Masks] | None = None) -> list[list[np.ndarray]]:
        """The active members' forward passes of the batch ``x`` (m, n_in) (:meth:`MLP.forward`): views into
        their workspaces (in a pool, the logits also member by member, :meth:`logits_of`, and each member's of its
        own rows gathered, :meth:`own_logits`)."""
        m = len(x)
        acts = self.pack.forward(x, self.ws, masks or [None] * len(self.active), self.active)
        if self.pooled:
            copy_transposed(self.by_member[:, :m], self.ws.first[:m])
            for j in self.active:
                self.members[j].own_logits(self.by_member[self.pack.columns(j), :m])
        return acts

    def logits_of(self, j: int, rows: np.ndarray) -> np.ndarray:
        """Member ``j``'s logits (n, n_out) of ``rows`` (n,) of the last forward pass, in a pool (a new array)."""
        return np.take(self.by_member[self.pack.columns(j)], rows, axis=1).T

    def own_logits(self, j: int) -> np.ndarray:
        """Member ``j``'s logits (n_j, n_out) of its own rows of the last forward pass, in a pool: gathered by
        :meth:`forward` into its workspace, where its next step turns them into its deltas."""
        return self.members[j].own.acts[-1]

    def step(
        self,
        x: np.ndarray,
        ys: Sequence[np.ndarray],
        lrs: Sequence[float],
        acts: list[list[np.ndarray]] | None = None,
        logits_to: Sequence[np.ndarray] | None = None,
    ) -> None:
        """One step of every active member on the batch ``x`` (m, n_in), member ``active[i]`` with its labels
        ``ys[i]`` (of its rows: all m, or its subset's) and learning rate ``lrs[i]``.

        ``acts``: the batch's :meth:`forward` pass when the caller has done it (without dropout); ``logits_to``
        (one (m, n_out) array or None per active member), if given, receive the batch's logits before the update."""
        masks = self.masks(len(x))
        if acts is None:
            acts = self.forward(x, masks)
        if logits_to is not None:
            for target, member_acts in zip(logits_to, acts):
                if target is not None:
                    target[...] = member_acts[-1]
        members = [self.members[j] for j in self.active]
        if self.pooled:
            m, blocks = len(x), [self.by_member[self.pack.columns(j), : len(x)] for j in self.active]
            own = [self.own_logits(j) for j in self.active]  # gathered by the forward pass
            self.by_member[:, :m] = 0  # the logits are gathered: their rows become the deltas or zeros
            for member, block, logits, y in zip(members, blocks, own, ys):
                member.backward(x, y, [logits], None)
                block[:, member.subset] = logits.T
            first = self.pack.output_backward(x, self.by_member[:, :m], self.ws, self.grad_by_member)
            above: list[list[Gradient]] = [[] for _ in members]
        else:
            above = [
                member.backward(x, y, member_acts, mask)
                for member, member_acts, y, mask in zip(members, acts, ys, masks)
            ]
            first = self.pack.backward(x, self.ws)
        for j, member, weights, lr in zip(self.active, members, above, lrs):
            member.update([first[j], *weights], lr)

    def retire(self, j: int, workspaces: Sequence[PackWorkspace] = ()) -> None:
        """Member ``j`` trains no more: it takes its first layer out of the pack (:meth:`Pack.detach`), whose
        products then give it zeros in this stepper's workspace and ``workspaces``."""
        self.active.remove(j)
        self.pack.detach(j, [self.ws, *workspaces])


class _MemberSteps:
    """One member's part of a step: its masks, its backward pass (all but the first layer, the pack's) and its
    optimizer's update."""

    def __init__(
        self, model: MLP, method: Method, rng: np.random.Generator, ws: Workspace, subset: np.ndarray | None
    ) -> None:
        self.model, self.method, self.rng, self.ws, self.subset = model, method, rng, ws, subset
        # its rows' logits, then deltas, when it trains on a subset of the batch's rows
        self.own = None if subset is None else model.workspace(len(subset))
        self.optimizer = make_optimizer(method.optimizer, model.params, dict(method.optimizer_settings))
        self.hidden_sizes = model.layer_sizes[1:-1]
        # weight_decay * W per weight matrix, computed into these each step (no temporaries)
        self.decay_terms = [np.empty_like(w) for w in model.weights] if method.weight_decay else []
        self.summed = method.grad_reduction == "sum"
        self.printed = method.output_grad == "printed"

    def masks(self, rows: int) -> Masks:
        """Inverted-dropout masks of the hidden layers for a batch of ``rows``: (rows, n_l) of 0 or 1 / (1 - p)."""
        if not self.method.dropout:
            return None
        keep = 1.0 - self.method.dropout
        return [((self.rng.random((rows, n)) < keep) / keep).astype(self.model.dtype) for n in self.hidden_sizes]

    def own_logits(self, block: np.ndarray) -> np.ndarray:
        """Its logits of its ``subset`` of a batch's rows, gathered from its ``block`` (n_out, m) of the pack's
        logits into its own workspace (n_j, n_out)."""
        own = self.own.acts[-1]
        # mode="clip" writes straight into the buffer; the subset's rows are all within the batch
        np.take(block, self.subset, axis=1, out=own.T, mode="clip")
        return own

    def backward(self, x: np.ndarray, y: np.ndarray, acts: list[np.ndarray], masks: Masks) -> list[Gradient]:
        """Backpropagate the forward pass ``acts`` of its rows of the batch ``x`` (all of them, or its subset's,
        labelled ``y``) down to the first layer (the pack's): the weight gradients of every other layer
        (:meth:`MLP.backward`). Summed gradients (``grad_reduction=sum``) are the mean's times its rows."""
        scale = len(y) if self.summed else 1.0
        ws = self.ws if self.own is None else self.own
        return self.model.backward(x, y, acts, ws, scale, masks, first_layer=False, printed=self.printed)

    def update(self, weight_grads: list[Gradient], lr: float) -> None:
        """The optimizer's step from the weights' gradients ``weight_grads`` (layer order) and the biases' in the
        workspace, with weight decay's term added to the weights' first."""
        if self.decay_terms:
            weight_grads = [formed(grad) for grad in weight_grads]
            for grad, weight, term in zip(weight_grads, self.model.weights, self.decay_terms):
                np.multiply(weight, self.method.weight_decay, out=term)
                grad += term
        self.optimizer.step([*weight_grads, *self.ws.grad_b], lr)


def copy_transposed(target: np.ndarray, source: np.ndarray, rows: int = 1024) -> None:
    """``target`` (n, m) = ``source`` (m, n) transposed, ``rows`` rows of ``source`` at a time: each block's
    transpose stays in cache (for (60,000, 40) float32, 1.7 ms against 10 ms for one ``np.copyto``)."""
    for start in range(0, len(source), rows):
        np.copyto(target[:, start : start + rows], source[start : start + rows].T)
