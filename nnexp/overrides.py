"""Python values as the command line's overrides: what :mod:`nnexp.api` hands to the same Hydra entry point.

A grid ``{"hidden": [32, 64]}`` becomes ``hidden=32,64`` and a setting ``data="digits"`` becomes ``data=digits``,
spelled as a user would type them, so that the sweep folder a command's overrides name is the same for both.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from numbers import Integral, Real
from typing import TypeAlias

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from nnexp.errors import ConfigError
from nnexp.results.plan_file import quoted

# A setting's value: a number, a string (as typed on the command line), true/false, null, or a list of them
# (``hidden=[128,64]``)
Value: TypeAlias = "str | int | float | bool | os.PathLike[str] | list[Value] | tuple[Value, ...] | None"

_parser = OverridesParser.create()


def _is_one_value(text: str) -> bool:
    """Whether ``text`` typed after ``key=`` is one value (not a sweep, and Hydra can parse it)."""
    try:
        return not _parser.parse_override(f"key={text}").is_sweep_override()
    except HydraException:
        return False


def spelled(key: str, value: Value) -> str:
    """``value`` as the command line spells it after ``key=``: ``true``, ``null``, ``0.1``, ``[128,64]``; a string
    as typed (``digits``, ``[128,64]``, ``0.1``), quoted only where typed it would not be one value (a comma, a
    quote, a parenthesis: ``'/data/a,b'``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        return repr(float(value))
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        return text if _is_one_value(text) else quoted(text)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(spelled(key, item) for item in value) + "]"
    raise ConfigError(
        f"{key}={value!r}: a {type(value).__name__} is not a setting's value; allowed: a number, a string, a bool,"
        " None, or a list of them"
    )


def grid_overrides(grid: Mapping[str, Iterable[Value]]) -> list[str]:
    """``key=a,b,...`` for each key of ``grid`` and its values (a list of one value: ``key=a``)."""
    overrides = []
    for key, values in grid.items():
        if isinstance(values, (str, bytes, os.PathLike, Mapping)) or not isinstance(values, Iterable):
            raise ConfigError(f"the grid's {key}={values!r} is not a list of values; allowed: {key}=[value, ...]")
        listed = list(values)
        if not listed:
            raise ConfigError(f"the grid's {key} has no values; allowed: a list of one or more values")
        overrides.append(f"{key}={','.join(spelled(key, value) for value in listed)}")
    return overrides


def setting_overrides(settings: Mapping[str, Value]) -> list[str]:
    """``key=value`` for each of ``settings``."""
    return [f"{key}={spelled(key, value)}" for key, value in settings.items()]


def command_overrides(grid: Mapping[str, Iterable[Value]], settings: Mapping[str, Value]) -> list[str]:
    """The overrides of a sweep over ``grid`` with ``settings`` (a key in both is refused)."""
    both = sorted(set(grid) & set(settings))
    if both:
        raise ConfigError(f"{', '.join(both)} both in the grid and as a setting; allowed: one of the two")
    return [*grid_overrides(grid), *setting_overrides(settings)]
