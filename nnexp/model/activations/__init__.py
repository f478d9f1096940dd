"""Hidden-layer activations, one module each (:mod:`.base` says what an activation is).

Adding one is adding a module here that defines ``ACTIVATION``, a subclass of
:class:`~nnexp.model.activations.base.Activation`: the registry (:data:`ACTIVATIONS`) finds it,
and the config's allowed values, the diagnostics and the gradient checks follow.
"""

from nnexp.model.activations.base import Activation
from nnexp.model.activations.registry import ACTIVATIONS, make_activation

__all__ = ["ACTIVATIONS", "Activation", "make_activation"]
