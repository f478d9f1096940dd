"""The domains of settings: the values each may take, as a test and the words its one-line error uses.

One vocabulary for every setting: the run's own (:data:`nnexp.training.spec.DOMAINS`), each optimizer's
(``ALLOWED``) and each learning-rate schedule's. Settings whose values are an enum or a boolean have their type
as domain (Hydra refuses the rest); counts that depend on the data are checked against it when its size is known.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from nnexp.errors import ConfigError

# The valid values of a setting: a test and its description for the one-line error and the help page.
Allowed = tuple[Callable[[Any], bool], str]


def is_int(value: Any) -> bool:
    """An int, not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def at_least(lowest: int) -> Allowed:
    """Ints from ``lowest`` up."""
    return (lambda value: is_int(value) and value >= lowest, f"an int >= {lowest}")


def nullable(allowed: Allowed, null: str = "") -> Allowed:
    """``allowed`` or null (which means ``null``, when given)."""
    ok, words = allowed
    return (lambda value: value is None or ok(value), f"null{f' ({null})' if null else ''} or {words}")


def noted(allowed: Allowed, note: str) -> Allowed:
    """``allowed``, its description followed by ``note`` in parentheses (what a value means, e.g. "0: off")."""
    return allowed[0], f"{allowed[1]} ({note})"


A_FRACTION: Allowed = (lambda value: 0 <= value < 1, "a number in [0, 1)")
A_PROBABILITY: Allowed = (A_FRACTION[0], "a probability in [0, 1)")
A_FACTOR: Allowed = (lambda value: 0 < value <= 1, "a number in (0, 1]")
OPEN_FRACTION: Allowed = (lambda value: 0 < value < 1, "a number in (0, 1)")
POSITIVE: Allowed = (lambda value: 0 < value < math.inf, "a finite number > 0")
NON_NEGATIVE: Allowed = (lambda value: 0 <= value < math.inf, "a finite number >= 0")
A_COUNT = at_least(1)
A_NON_NEGATIVE_INT = at_least(0)
# A name that is used as a file or folder name (the data set's cache folder, its files): never a path
A_NAME: Allowed = (
    lambda value: isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value) is not None,
    "a name of letters, digits, '_', '.' and '-' (not a path)",
)
# A part of a set: a fraction of it, or a whole number of its items (1.5 is neither)
FRACTION_OR_COUNT: Allowed = (
    lambda value: 0 < value < 1 or (1 <= value < math.inf and value == int(value)),
    "a fraction in (0, 1) or a count >= 1",
)


def invalid(key: str, value: Any, words: str) -> ConfigError:
    """The one-line error of a setting whose value is not allowed: its key, its value and what is allowed."""
    return ConfigError(f"{key}={value} is invalid; allowed: {words}")


def check(key: str, value: Any, allowed: Allowed) -> None:
    """Raise :func:`invalid` unless ``value`` is ``allowed``."""
    ok, words = allowed
    if not ok(value):
        raise invalid(key, value, words)
