"""nnexp: neural networks from scratch on MNIST, as reproducible Hydra sweeps with reports.

From Python (:mod:`nnexp.api`, imported on first use): ``nnexp.sweep(grid, **settings)``, ``nnexp.train(**settings)``,
``nnexp.load(sweep_dir)``, ``nnexp.curves(sweep_dir)``, ``nnexp.report(sweep_dir)``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from nnexp.lazy_exports import __dir__ as __dir__
from nnexp.lazy_exports import __getattr__ as __getattr__

__version__ = "0.1.0"

if TYPE_CHECKING:
    from nnexp.api import TrainedRun, curves, load, report, sweep, train

__all__ = ["TrainedRun", "__version__", "curves", "load", "report", "sweep", "train"]
# API functions named as a package of nnexp: that package, called, runs the function (nnexp.callable_package)
CALLABLE_PACKAGES = ("report", "sweep")


def __getattr__(name: str) -> Any:
    """The Python API's names, imported when first asked for."""
    if name in CALLABLE_PACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in __all__:
        value = globals()[name] = getattr(importlib.import_module(f"{__name__}.api"), name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
