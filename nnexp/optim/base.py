"""What an optimizer is to nnexp: it updates parameters in place from their gradients, keeping its own state.

Each optimizer is one class in one module of :mod:`nnexp.optim` that names it ``OPTIMIZER``, following the
update rules of ``torch.optim`` (its docstring gives the formula). The registry (:mod:`nnexp.optim.registry`)
finds it, and everything else reads its class attributes: ``SETTINGS`` names the settings it takes
(``optimizer.<setting>`` in the config) with their defaults, ``ALLOWED`` their valid values (in the vocabulary
of :mod:`nnexp.domains`), ``LR`` the learning rate its config group sets (None: the top-level default); the config
schema, the config group ``optimizer=<name>``, the checks and the help page follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from nnexp.domains import Allowed
from nnexp.model.gradient import Gradient, formed


class Optimizer:
    """Updates ``params`` (a list of arrays, changed in place) from gradients of the same shapes."""

    name: ClassVar[str]
    SETTINGS: ClassVar[dict[str, float]] = {}
    ALLOWED: ClassVar[dict[str, Allowed]] = {}  # for each of SETTINGS
    LR: ClassVar[float | None] = None  # the learning rate optimizer=<name> sets; None: the top-level default
    BUFFERS: ClassVar[tuple[str, ...]] = ()  # the kinds of state it keeps, each an array per parameter

    def __init__(self, params: list[np.ndarray], **settings: float) -> None:
        unknown = set(settings) - set(self.SETTINGS)
        if unknown:
            raise ValueError(f"optimizer {self.name} takes {', '.join(self.SETTINGS) or 'no settings'}, not {unknown}")
        self.params = params
        self.settings = {**self.SETTINGS, **settings}
        self.steps = 0
        self.buffers = {kind: [np.zeros_like(param) for param in params] for kind in self.BUFFERS}
        # per-parameter scratch of the updates (not state): a step allocates nothing
        self.scratch = [np.empty_like(param) for param in params] if self.BUFFERS else []

    def step(self, grads: Sequence[Gradient], lr: float) -> None:
        """Update every parameter from its gradient (:meth:`nnexp.model.MLP.gradients`: arrays, or products formed
        here), which may be overwritten: they are scratch."""
        self.steps += 1
        for index, (param, grad) in enumerate(zip(self.params, grads)):
            self._update(index, param, formed(grad), lr)

    def _update(self, index: int, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        """Everything the optimizer has accumulated (copies), to continue later with :meth:`load_state`."""
        buffers = {kind: [b.copy() for b in arrays] for kind, arrays in self.buffers.items()}
        return {"steps": self.steps, "buffers": buffers}

    def load_state(self, state: dict[str, Any]) -> None:
        self.steps = int(state["steps"])
        for kind, saved in state["buffers"].items():
            for buffer, value in zip(self.buffers[kind], saved):
                buffer[...] = value
