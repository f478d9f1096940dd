"""The constant rate."""

from __future__ import annotations

from nnexp.optim.schedules.base import Schedule


def _rate(lr: float, epoch: int, epochs: int) -> float:
    return lr


SCHEDULE = Schedule("constant", _rate, {}, "lr")
