"""The learning-rate schedules nnexp knows, by name: every module of :mod:`nnexp.optim.schedules` that names a
``SCHEDULE``."""

from __future__ import annotations

import nnexp.optim.schedules as schedules
from nnexp.discovery import defined_in
from nnexp.optim.schedules.base import Schedule

# By name, alphabetical: the config's lr_schedule=... choices, its settings and the help page come from here.
SCHEDULES: dict[str, Schedule] = {schedule.name: schedule for schedule in defined_in(schedules, "SCHEDULE")}


def learning_rate(name: str, lr: float, epoch: int, epochs: int, settings: dict[str, float | int | None]) -> float:
    """The learning rate of ``epoch`` (0-based) of ``epochs`` under schedule ``name`` with base rate ``lr``; settings
    left None take the schedule's defaults."""
    schedule = SCHEDULES[name]
    given = {key: value for key, value in settings.items() if value is not None}
    return schedule.rate(lr, epoch, epochs, **{**schedule.settings, **given})
