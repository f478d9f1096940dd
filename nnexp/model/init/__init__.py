"""Weight initialisation schemes, one module each (:mod:`.base` says what a scheme is), and the biases' start.

Adding one is adding a module here that defines ``INIT``, an :class:`~nnexp.model.init.base.InitScheme`: the
registry (:data:`INIT_SCHEMES`) finds it, and the config's allowed values and the help page follow.
"""

from nnexp.model.init.base import InitScheme
from nnexp.model.init.registry import BIAS_INITS, INIT_SCHEMES, initial_biases, initial_weights

__all__ = ["BIAS_INITS", "INIT_SCHEMES", "InitScheme", "initial_biases", "initial_weights"]
