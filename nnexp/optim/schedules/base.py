"""What a learning-rate schedule is to nnexp: the rate of each epoch, from the base rate and its own settings."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field

from nnexp.domains import Allowed


@dataclass(frozen=True)
class Schedule:
    """One schedule, applied per epoch: ``rate(lr, epoch, epochs, *, settings...)`` is the rate of ``epoch`` (0 for the
    first) of ``epochs`` from the base rate ``lr``; its keyword-only parameters are the schedule's settings, with
    their defaults and types (``lr_schedule.<setting>=...``); ``allowed`` the range each must lie in (in the
    vocabulary of :mod:`nnexp.domains`); ``formula`` the rate as the help page writes it, with e for the epoch."""

    name: str
    rate: Callable[..., float]
    allowed: dict[str, Allowed]
    formula: str
    settings: dict[str, float | int | None] = field(init=False)  # by name: the default
    types: dict[str, type] = field(init=False)  # by name: int or float (the config's type; null is the default)

    def __post_init__(self) -> None:
        keyword = [p for p in inspect.signature(self.rate).parameters.values() if p.kind is p.KEYWORD_ONLY]
        hints = typing.get_type_hints(self.rate)
        object.__setattr__(self, "settings", {p.name: p.default for p in keyword})
        object.__setattr__(self, "types", {p.name: _number_type(hints[p.name]) for p in keyword})
        if set(self.allowed) != set(self.settings):
            raise TypeError(
                f"schedule {self.name}: allowed ranges for {sorted(self.allowed)}, settings {sorted(self.settings)}"
            )


def _number_type(hint: object) -> type:
    """int or float, of a setting's annotation (``int``, ``float``, ``int | None`` ...)."""
    types = [t for t in typing.get_args(hint) or (hint,) if t is not type(None)]
    (number,) = types
    return number
