"""A run's settings as a tracker's hyper-parameters: the settings that can change its result, one flat name each."""

from __future__ import annotations

import json
from typing import Any

Param = str | int | float | bool


def run_params(settings: dict[str, Any]) -> dict[str, Param]:
    """A run's ``settings`` (its config record without the execution-only ones:
    :func:`nnexp.training.spec.result_settings`) flat (``optimizer.name``): numbers, strings and booleans as they
    are, anything else (lists, null) as JSON (``hidden``: ``"[128, 64]"``)."""
    return _flat(settings)


def _flat(node: dict[str, Any], prefix: str = "") -> dict[str, Param]:
    flat: dict[str, Param] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, Param) else json.dumps(value)
    return flat
