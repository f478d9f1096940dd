"""nnexp: neural networks from scratch on MNIST, as reproducible Hydra sweeps with reports."""

__version__ = "0.1.0"
