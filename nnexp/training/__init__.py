"""Training a run: its checked settings (spec), the loop, per-epoch diagnostics, and the run in its folder (job)."""

from nnexp.training.job import execute
from nnexp.training.loop import Trainer, TrainResult, train
from nnexp.training.method import Method, Stepper
from nnexp.training.spec import RunSpec, fingerprint

__all__ = ["Method", "RunSpec", "Stepper", "TrainResult", "Trainer", "execute", "fingerprint", "train"]
