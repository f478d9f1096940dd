"""The network: activations, initialisation, output layers with their losses, forward/backward, saved models."""

from nnexp.model.activations import ACTIVATIONS
from nnexp.model.init import INIT_SCHEMES
from nnexp.model.loss import LOSSES
from nnexp.model.network import MLP, Workspace

__all__ = ["ACTIVATIONS", "INIT_SCHEMES", "LOSSES", "MLP", "Workspace"]
