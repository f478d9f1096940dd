"""Early stopping: watch a validation metric, stop when it no longer improves, keep the best weights."""

from __future__ import annotations

import math

import numpy as np


class EarlyStopping:
    """Stop after ``patience`` epochs in which ``metric`` (``val_loss``: lower is better; ``val_acc``:
    higher) did not improve on the best by more than ``min_delta``; ``patience`` 0 never stops.

    The parameters of the best epoch are copied when it is seen and put back by :meth:`restore`.
    """

    def __init__(self, patience: int, metric: str, min_delta: float) -> None:
        self.patience, self.metric, self.min_delta = patience, metric, min_delta
        self.sign = -1.0 if metric == "val_loss" else 1.0  # improvement = sign * (value - best) > min_delta
        self.best = -math.inf
        self.best_epoch: int | None = None
        self.best_params: list[np.ndarray] | None = None
        self.waited = 0

    def update(self, epoch: int, row: dict, params: list[np.ndarray]) -> str | None:
        """Record ``epoch``'s metrics; the reason to stop now, or None to go on."""
        if not self.patience:
            return None
        value = self.sign * row[self.metric]
        if math.isfinite(value) and (self.best_epoch is None or value - self.best > self.min_delta):
            self.best, self.best_epoch, self.waited = value, epoch, 0
            self.best_params = [param.copy() for param in params]
            return None
        self.waited += 1
        if self.waited >= self.patience:
            return f"{self.metric} did not improve by more than {self.min_delta:g} for {self.patience} epochs"
        return None

    def state(self) -> dict:
        """The best so far (its parameters as copies), to continue later with :meth:`load_state`."""
        best = None if self.best_params is None else [param.copy() for param in self.best_params]
        return {"best": self.best, "best_epoch": self.best_epoch, "waited": self.waited, "best_params": best}

    def load_state(self, state: dict) -> None:
        self.best, self.best_epoch, self.waited = state["best"], state["best_epoch"], state["waited"]
        self.best_params = state["best_params"]

    def restore(self, params: list[np.ndarray]) -> int | None:
        """Put the best epoch's parameters back into ``params``; that epoch (None when nothing was kept)."""
        if self.best_params is None:
            return None
        for param, best in zip(params, self.best_params):
            param[...] = best
        return self.best_epoch
