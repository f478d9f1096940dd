"""The rate multiplied by ``gamma`` every epoch (torch.optim.lr_scheduler.ExponentialLR)."""

from __future__ import annotations

from nnexp.domains import A_FACTOR
from nnexp.optim.schedules.base import Schedule


def _rate(lr: float, epoch: int, epochs: int, *, gamma: float = 0.9) -> float:
    return lr * gamma**epoch


SCHEDULE = Schedule("exponential", _rate, {"gamma": A_FACTOR}, "lr*gamma^e")
