"""The modules of a package that define an extension: how registries find their members."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any


def defined_in(package: ModuleType, attribute: str) -> list[Any]:
    """``attribute`` of every module of ``package`` that defines it, the modules in alphabetical order."""
    found = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if hasattr(module, attribute):
            found.append(getattr(module, attribute))
    return found
