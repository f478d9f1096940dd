"""A sweep of runs: its plan (every run composed and checked first), the launcher, progress, provenance,
and the Hydra callback that ties them together.

Called, the package runs a sweep from Python: ``nnexp.sweep(grid, **settings)`` is :func:`nnexp.api.sweep`.
"""

from nnexp.sweep import called as called  # makes the package callable
