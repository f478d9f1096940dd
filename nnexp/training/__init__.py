"""Training a run: its checked settings (spec), the loop, per-epoch diagnostics, and the run in its folder (job)."""

from nnexp.training.job import execute, execute_pack
from nnexp.training.loop import Member, Trainer, TrainResult, train, train_pack
from nnexp.training.method import Method, Stepper
from nnexp.training.spec import RunSpec, fingerprint

__all__ = [
    "Member",
    "Method",
    "RunSpec",
    "Stepper",
    "TrainResult",
    "Trainer",
    "execute",
    "execute_pack",
    "fingerprint",
    "train",
    "train_pack",
]
