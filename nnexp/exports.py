"""The names ``nnexp`` exports from its Python API (:mod:`nnexp.api`), imported on first use: ``import nnexp`` imports
neither Hydra nor pandas. ``nnexp/__init__.py`` takes :func:`__getattr__` and :func:`__dir__` from here.

``nnexp.sweep`` and ``nnexp.report`` are also the names of packages, whose import makes them that attribute of
``nnexp``: those packages are callable and run the API's function (:mod:`nnexp.callable_package`).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

PACKAGE = "nnexp"
CALLABLE_PACKAGES = ("report", "sweep")


def __getattr__(name: str) -> Any:
    """``nnexp.<name>`` of the Python API (a callable package for ``sweep`` and ``report``)."""
    if name in CALLABLE_PACKAGES:
        return importlib.import_module(f"{PACKAGE}.{name}")
    if name in sys.modules[PACKAGE].__all__:
        return getattr(importlib.import_module(f"{PACKAGE}.api"), name)
    raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """``dir(nnexp)``: its module attributes and the API's names."""
    package = sys.modules[PACKAGE]
    return sorted({*vars(package), *package.__all__})
