"""Called, the package :mod:`nnexp.sweep` runs :func:`nnexp.api.sweep` (:mod:`nnexp.callable_package`)."""

from nnexp.callable_package import make_callable

make_callable(__package__)
