"""nnexp: neural networks from scratch on MNIST, as reproducible Hydra sweeps with reports.

From Python (:mod:`nnexp.api`, imported on first use): ``nnexp.sweep(grid, **settings)``, ``nnexp.train(**settings)``,
``nnexp.load(sweep_dir)``, ``nnexp.curves(sweep_dir)``, ``nnexp.report(sweep_dir)``; ``nnexp.MLPClassifier``.
"""

from nnexp.lazy_exports import __dir__ as __dir__
from nnexp.lazy_exports import __getattr__ as __getattr__

__version__ = "0.1.0"
