"""The network: activations, initialisation, output layers with their losses, forward/backward, saved models."""

from nnexp.model.activations import ACTIVATIONS
from nnexp.model.init import BIAS_INITS, INIT_SCHEMES
from nnexp.model.loss import LOSSES
from nnexp.model.network import MLP, Workspace

__all__ = ["ACTIVATIONS", "BIAS_INITS", "INIT_SCHEMES", "LOSSES", "MLP", "Workspace"]
