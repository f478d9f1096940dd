"""Learning-rate schedules, applied per epoch: the rate of epoch e (0 for the first) from the base rate lr.

- ``constant``: lr;
- ``step``: lr * gamma^floor(e / step_size)  (torch.optim.lr_scheduler.StepLR);
- ``exponential``: lr * gamma^e  (ExponentialLR);
- ``inverse_time``: lr / (1 + decay * e)  (Keras' InverseTimeDecay with decay_steps = 1 epoch);
- ``cosine``: eta_min + (lr - eta_min) (1 + cos(pi min(e, t_max) / t_max)) / 2  (CosineAnnealingLR up to
  t_max, then held at eta_min where torch would rise again; t_max null = the run's epochs).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from nnexp.domains import A_COUNT, A_FACTOR, NON_NEGATIVE, Allowed, noted, nullable


@dataclass(frozen=True)
class Schedule:
    """One schedule: its settings with their defaults, the range each must lie in, and the rate of epoch e."""

    name: str
    settings: dict[str, float | int | None]
    allowed: dict[str, Allowed]  # in the vocabulary of nnexp.domains
    rate: Callable[..., float]  # rate(lr, epoch, epochs, **settings)


def _cosine(lr: float, epoch: int, epochs: int, t_max: int | None, eta_min: float) -> float:
    period = t_max or epochs
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * min(epoch, period) / period)) / 2


SCHEDULES: dict[str, Schedule] = {
    s.name: s
    for s in (
        Schedule("constant", {}, {}, lambda lr, epoch, epochs: lr),
        Schedule(
            "step",
            {"step_size": 5, "gamma": 0.5},
            {"step_size": A_COUNT, "gamma": A_FACTOR},
            lambda lr, epoch, epochs, step_size, gamma: lr * gamma ** (epoch // step_size),
        ),
        Schedule(
            "exponential", {"gamma": 0.9}, {"gamma": A_FACTOR}, lambda lr, epoch, epochs, gamma: lr * gamma**epoch
        ),
        Schedule(
            "inverse_time",
            {"decay": 0.5},
            {"decay": NON_NEGATIVE},
            lambda lr, epoch, epochs, decay: lr / (1 + decay * epoch),
        ),
        Schedule(
            "cosine",
            {"t_max": None, "eta_min": 0.0},
            {"t_max": nullable(A_COUNT, "the run's epochs"), "eta_min": noted(NON_NEGATIVE, "below lr")},
            _cosine,
        ),
    )
}


def learning_rate(name: str, lr: float, epoch: int, epochs: int, settings: dict[str, float | int | None]) -> float:
    """The learning rate of ``epoch`` (0-based) of ``epochs`` under schedule ``name`` with base rate ``lr``."""
    schedule = SCHEDULES[name]
    return schedule.rate(lr, epoch, epochs, **{**schedule.settings, **settings})
