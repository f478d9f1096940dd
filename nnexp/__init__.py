"""nnexp: neural networks from scratch on MNIST, as reproducible Hydra sweeps with reports."""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Exported names whose modules are imported when first used: ``import nnexp`` stays light (no scikit-learn)
_LAZY = {"MLPClassifier": "nnexp.estimator"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
