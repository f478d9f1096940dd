"""How a network is trained, and one training step: gradients (with the L2 penalty and dropout) and the
optimizer's update."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from nnexp.model import MLP
from nnexp.model.network import Masks
from nnexp.optim import learning_rate, make_optimizer


@dataclass(frozen=True)
class Method:
    """The training method: optimizer and its settings, learning rate and its per-epoch schedule, L2 weight
    decay, dropout, and early stopping (``patience`` 0: off). Settings left out take their defaults."""

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

    def learning_rate(self, epoch: int, epochs: int) -> float:
        """The learning rate of ``epoch`` (1-based) of ``epochs``."""
        return learning_rate(self.lr_schedule, self.lr, epoch - 1, epochs, dict(self.schedule_settings))


class Stepper:
    """Training steps of ``model`` on batches of up to ``batch_size`` rows: the optimizer, its state and the
    buffers; ``rng`` draws the dropout masks.

    Plain SGD without weight decay takes the network's own step, which subtracts each weight gradient
    inside its BLAS call (:meth:`MLP.sgd_step`); every other method computes the gradients, adds the
    penalty's gradient weight_decay * W and hands them to the optimizer.
    """

    def __init__(self, model: MLP, method: Method, batch_size: int, rng: np.random.Generator) -> None:
        self.model, self.method, self.rng = model, method, rng
        self.ws = model.workspace(batch_size)
        self.optimizer = make_optimizer(method.optimizer, model.params, dict(method.optimizer_settings))
        self.fused = method.optimizer == "sgd" and not method.weight_decay
        self.hidden_sizes = model.layer_sizes[1:-1]
        # weight_decay * W per weight matrix, computed into these each step (no temporaries)
        self.decay_terms = [np.empty_like(w) for w in model.weights] if method.weight_decay else []

    def masks(self, rows: int) -> Masks:
        """Inverted-dropout masks of the hidden layers for a batch of ``rows``: (rows, n_l) of 0 or 1 / (1 - p)."""
        if not self.method.dropout:
            return None
        keep = 1.0 - self.method.dropout
        return [((self.rng.random((rows, n)) < keep) / keep).astype(self.model.dtype) for n in self.hidden_sizes]

    def step(
        self,
        x: np.ndarray,
        y: np.ndarray,
        lr: float,
        acts: list[np.ndarray] | None = None,
        logits_to: np.ndarray | None = None,
    ) -> None:
        """One step on the batch ``x`` (m, n_in), ``y`` (m,) with learning rate ``lr``.

        ``acts``: the batch's forward pass in :attr:`ws` (:meth:`MLP.forward`) when the caller has done it (without
        dropout); ``logits_to`` (m, n_out), if given, receives the batch's logits before the update."""
        model, ws = self.model, self.ws
        masks = self.masks(len(x))
        if acts is None:
            acts = model.forward(x, ws, masks)
        if logits_to is not None:
            logits_to[...] = acts[-1]
        if self.fused:
            model.sgd_step(x, y, lr, ws, masks, acts)
            return
        scale = self.optimizer.grad_scale(lr)
        model.gradients(x, y, ws, scale, masks, acts)
        if self.decay_terms:
            decay = scale * self.method.weight_decay
            for grad, weight, term in zip(ws.grad_w, model.weights, self.decay_terms):
                np.multiply(weight, decay, out=term)
                grad += term
        self.optimizer.step(ws.grads, lr)
