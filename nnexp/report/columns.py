"""A run's configuration as the flat columns of the report's frames (``data.val_size``, ``optimizer``, ...).

Plain Python (no pandas): the sweep names the report's possible rows and columns with it before any run starts.
"""

from __future__ import annotations

import math
from typing import Any

from nnexp.setting_kinds import DATA_SOURCE, LATER_SETTINGS, is_execution_only

RENAMES = {"data.name": "data", "optimizer.name": "optimizer", "lr_schedule.name": "lr_schedule"}


def _flatten(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in node.items():
        name = f"{prefix}{key}"
        if is_execution_only(name) or name in DATA_SOURCE:  # not what was run, or where the files are
            continue
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[RENAMES.get(name, name)] = value
    return flat


def hidden_label(hidden: Any) -> int | str:
    """``128`` for one hidden layer, ``"128-64"`` for several, ``"none"`` for none."""
    sizes = list(hidden) if isinstance(hidden, (list, tuple)) else [hidden]
    if len(sizes) == 1:
        return sizes[0]
    return "-".join(str(s) for s in sizes) or "none"


def config_columns(config: dict[str, Any]) -> dict[str, Any]:
    """A run's configuration as flat columns (``data.val_size``, ...), without file locations and execution settings;
    a setting added after the run was made, with the value the run computed (:data:`LATER_SETTINGS`)."""
    flat = _flatten(config)
    for key, value in LATER_SETTINGS.items() if config else ():
        flat.setdefault(key, value)
    if "hidden" in flat:
        flat["hidden"] = hidden_label(flat["hidden"])
    return flat


def setting_text(name: str, value: Any) -> str:
    """``name=value`` as a report names a setting: a whole float as an int (a frame's column of ints and nulls holds
    ``1000.0``), null as ``null``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{name}=null"
    return f"{name}={int(value) if isinstance(value, float) and value.is_integer() else value}"
