"""Called, the package :mod:`nnexp.report` runs :func:`nnexp.api.report` (:mod:`nnexp.callable_package`)."""

from nnexp.callable_package import make_callable

make_callable(__package__)
