"""The network: activations, initialisation, softmax cross-entropy, forward/backward."""

from nnexp.model.activations import ACTIVATIONS
from nnexp.model.init import INIT_SCHEMES
from nnexp.model.network import MLP, Workspace

__all__ = ["ACTIVATIONS", "INIT_SCHEMES", "MLP", "Workspace"]
