"""The rate multiplied by ``gamma`` every ``step_size`` epochs (torch.optim.lr_scheduler.StepLR)."""

from __future__ import annotations

from nnexp.domains import A_COUNT, A_FACTOR
from nnexp.optim.schedules.base import Schedule


def _rate(lr: float, epoch: int, epochs: int, *, step_size: int = 5, gamma: float = 0.5) -> float:
    return lr * gamma ** (epoch // step_size)


SCHEDULE = Schedule("step", _rate, {"step_size": A_COUNT, "gamma": A_FACTOR}, "lr*gamma^floor(e/step_size)")
