"""The names ``nnexp`` exports from modules imported only when a name is first used, so that ``import nnexp`` stays
light (no scikit-learn, Hydra or pandas): the package's module ``__getattr__`` and ``__dir__`` (PEP 562), re-exported
by its ``__init__``.

``nnexp.sweep`` and ``nnexp.report`` of the Python API are also the names of packages, whose import makes them that
attribute of ``nnexp``: those packages are callable and run the API's function (:mod:`nnexp.callable_package`).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

LAZY = {  # name: the module that defines it
    "MLPClassifier": "nnexp.estimator",
    **dict.fromkeys(("TrainedRun", "curves", "load", "train"), "nnexp.api"),
}
CALLABLE_PACKAGES = ("report", "sweep")  # nnexp.api's functions named as packages: the package, callable


def __getattr__(name: str) -> Any:
    if name in CALLABLE_PACKAGES:
        return importlib.import_module(f"nnexp.{name}")
    if name in LAZY:
        return getattr(importlib.import_module(LAZY[name]), name)
    raise AttributeError(f"module 'nnexp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*vars(sys.modules["nnexp"]), *LAZY, *CALLABLE_PACKAGES})
