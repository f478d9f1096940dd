"""Cosine annealing from the rate to ``eta_min`` over ``t_max`` epochs (torch.optim.lr_scheduler.CosineAnnealingLR up
to t_max, then held at eta_min where torch would rise again; t_max null: the run's epochs)."""

from __future__ import annotations

import math

from nnexp.domains import A_COUNT, NON_NEGATIVE, noted, nullable
from nnexp.optim.schedules.base import Schedule


def _rate(lr: float, epoch: int, epochs: int, *, t_max: int | None = None, eta_min: float = 0.0) -> float:
    period = t_max or epochs
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * min(epoch, period) / period)) / 2


SCHEDULE = Schedule(
    "cosine",
    _rate,
    {"t_max": nullable(A_COUNT, "the run's epochs"), "eta_min": noted(NON_NEGATIVE, "below lr")},
    "eta_min+(lr-eta_min)*(1+cos(pi*e/t_max))/2",
)
