"""The report's vocabulary of metrics: how each final metric of a run is shown, and the kinds of learning curves.

Plain data (no pandas): the sweep checks ``report.metrics`` against it before any run starts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """How a summary metric is shown: its title, a scale factor and decimals."""

    title: str
    scale: float = 1.0
    decimals: int = 4


METRICS = {
    "test_acc": Metric("Test accuracy (%)", 100, 2),
    "val_acc": Metric("Validation accuracy (%)", 100, 2),
    "train_acc": Metric("Training accuracy (%)", 100, 2),
    "best_val_acc": Metric("Best validation accuracy (%)", 100, 2),
    "test_acc_at_best_val": Metric("Test accuracy at the best validation epoch (%)", 100, 2),
    "test_loss": Metric("Test loss"),
    "val_loss": Metric("Validation loss"),
    "train_loss": Metric("Training loss"),
    "train_seconds": Metric("Training time (s)", 1, 3),
    "eval_seconds": Metric("Evaluation time (s)", 1, 3),
    "samples_per_second": Metric("Training samples per second", 1, 0),
    "epochs_completed": Metric("Epochs trained", 1, 1),
    "kept_epoch": Metric("Epoch whose weights were kept", 1, 1),
}
# The per-epoch quantities of learning curves (train_<kind>, val_<kind> in metrics.csv) and their axis labels.
KINDS = {"loss": "Loss (mean per image)", "acc": "Accuracy (%)"}
