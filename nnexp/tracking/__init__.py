"""Experiment trackers: every run logged to TensorBoard or MLflow as it trains (``tracker=tensorboard|mlflow``), or a
finished sweep exported from its files (``nnexp-export``, :mod:`nnexp.export`).

A run's log holds what its folder holds: its per-epoch metrics by epoch (``metrics.csv``'s columns), its settings as
hyper-parameters, how it ended, and (MLflow) ``summary.json`` and ``model.npz`` as artifacts. A tracker's library is
imported only where a tracker is asked for: ``import nnexp`` and a run with ``tracker=none`` import none (nor
does this package: its modules are imported one by one).
"""
