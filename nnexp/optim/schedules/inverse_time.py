"""The rate divided by 1 + ``decay`` times the epoch (Keras' InverseTimeDecay with decay_steps = 1 epoch)."""

from __future__ import annotations

from nnexp.domains import NON_NEGATIVE
from nnexp.optim.schedules.base import Schedule


def _rate(lr: float, epoch: int, epochs: int, *, decay: float = 0.5) -> float:
    return lr / (1 + decay * epoch)


SCHEDULE = Schedule("inverse_time", _rate, {"decay": NON_NEGATIVE}, "lr/(1+decay*e)")
