"""Optimizers (one module each) and learning-rate schedules: how gradients become parameter updates."""

from nnexp.optim.base import Optimizer
from nnexp.optim.registry import OPTIMIZERS, make_optimizer
from nnexp.optim.schedules import SCHEDULES, learning_rate

__all__ = ["OPTIMIZERS", "SCHEDULES", "Optimizer", "learning_rate", "make_optimizer"]
