"""Learning-rate schedules, one module each, applied per epoch (:mod:`.base` says what a schedule is).

Adding one is adding a module here that defines ``SCHEDULE``, a :class:`~nnexp.optim.schedules.base.Schedule`:
the registry (:data:`SCHEDULES`) finds it, and the config group ``lr_schedule=<name>``, its settings, their checks,
the help page and the estimator's parameters follow.
"""

from nnexp.optim.schedules.base import Schedule
from nnexp.optim.schedules.registry import SCHEDULES, learning_rate

__all__ = ["SCHEDULES", "Schedule", "learning_rate"]
