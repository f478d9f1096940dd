"""The names ``nnexp`` exports from modules imported only when a name is first used, so that ``import nnexp`` stays
light (no scikit-learn): the package's module ``__getattr__`` and ``__dir__`` (PEP 562), re-exported by its
``__init__``."""

from __future__ import annotations

import importlib
import sys
from typing import Any

LAZY = {"MLPClassifier": "nnexp.estimator"}  # name: the module that defines it


def __getattr__(name: str) -> Any:
    if name in LAZY:
        return getattr(importlib.import_module(LAZY[name]), name)
    raise AttributeError(f"module 'nnexp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*vars(sys.modules["nnexp"]), *LAZY])
