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

    Each member's gradients (:meth:`MLP.backward`, the first layer's from the pack) get the penalty's gradient
    weight_decay * W added, if any, and go to its optimizer. ``active`` lists the members still training
    (:meth:`retire`).
    """

    def __init__(
        self, models: Sequence[MLP], methods: Sequence[Method], rows: int, rngs: Sequence[np.random.Generator]
    ) -> None:
        self.pack = Pack(models)
        self.ws = self.pack.workspace(rows)
        self.members = [
            _MemberSteps(model, method, rng, ws)
            for model, method, rng, ws in zip(models, methods, rngs, self.ws.members)
        ]
        self.active = list(range(len(models)))

    def masks(self, rows: int) -> list[Masks]:
        """The active members' dropout masks for a batch of ``rows`` (:meth:`_MemberSteps.masks`)."""
        return [self.members[j].masks(rows) for j in self.active]

    def forward(self, x: np.ndarray, masks: Sequence[Masks] | None = None) -> list[list[np.ndarray]]:
        """The active members' forward passes of the batch ``x`` (m, n_in) (:meth:`MLP.forward`): views into
        their workspaces."""
        return self.pack.forward(x, self.ws, masks or [None] * len(self.active), self.active)

    def step(
        self,
        x: np.ndarray,
        y: np.ndarray,
        lrs: Sequence[float],
        acts: list[list[np.ndarray]] | None = None,
        logits_to: Sequence[np.ndarray] | None = None,
    ) -> None:
        """One step of every active member on the batch ``x`` (m, n_in), ``y`` (m,), member ``active[i]`` with
        learning rate ``lrs[i]``.

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
        above = [member.backward(x, y, member_acts, mask) for member, member_acts, mask in zip(members, acts, masks)]
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

    def __init__(self, model: MLP, method: Method, rng: np.random.Generator, ws: Workspace) -> None:
        self.model, self.method, self.rng, self.ws = model, method, rng, ws
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

    def backward(self, x: np.ndarray, y: np.ndarray, acts: list[np.ndarray], masks: Masks) -> list[Gradient]:
        """Backpropagate the batch's forward pass ``acts`` down to the first layer (the pack's): the weight
        gradients of every other layer (:meth:`MLP.backward`). Summed gradients (``grad_reduction=sum``) are the
        mean's times the batch's rows."""
        scale = len(x) if self.summed else 1.0
        return self.model.backward(x, y, acts, self.ws, scale, masks, first_layer=False, printed=self.printed)

    def update(self, weight_grads: list[Gradient], lr: float) -> None:
        """The optimizer's step from the weights' gradients ``weight_grads`` (layer order) and the biases' in the
        workspace, with weight decay's term added to the weights' first."""
        if self.decay_terms:
            weight_grads = [formed(grad) for grad in weight_grads]
            for grad, weight, term in zip(weight_grads, self.model.weights, self.decay_terms):
                np.multiply(weight, self.method.weight_decay, out=term)
                grad += term
        self.optimizer.step([*weight_grads, *self.ws.grad_b], lr)
