"""The readers of data sets, one module each (see :mod:`nnexp.data.dataset`)."""
