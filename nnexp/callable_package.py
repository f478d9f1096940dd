"""Packages that are functions too: ``nnexp.sweep(...)`` and ``nnexp.report(...)``.

The Python API's :func:`nnexp.api.sweep` and :func:`nnexp.api.report` are exported as ``nnexp.sweep`` and
``nnexp.report``, the names of two packages (:mod:`nnexp.sweep`, :mod:`nnexp.report`); importing a package sets
that attribute of ``nnexp`` to it, so the package itself is made callable: called, it runs the API's function of
its name, with that function's signature (:func:`inspect.signature`, a notebook's ``?``). Its modules stay
where they are (``nnexp.sweep.plan``, ``nnexp.report.build``).
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any


class CallablePackage(ModuleType):
    """A package that, called, runs ``nnexp.api.<its last name>`` (imported then)."""

    def _function(self) -> Callable[..., Any]:
        return getattr(importlib.import_module("nnexp.api"), self.__name__.rpartition(".")[2])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._function()(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self._function())


def make_callable(name: str) -> None:
    """Make the package ``name`` (its ``__name__``, while it is imported) a :class:`CallablePackage`."""
    sys.modules[name].__class__ = CallablePackage
