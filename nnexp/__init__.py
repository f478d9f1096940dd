"""nnexp: neural networks from scratch on MNIST, as reproducible Hydra sweeps with reports."""

from nnexp.lazy_exports import __dir__ as __dir__
from nnexp.lazy_exports import __getattr__ as __getattr__

__version__ = "0.1.0"
