"""``C -= alpha A^T B`` in one BLAS call: plain gradient descent's weight update (gemm; ger for one sample).

NumPy has no matmul that accumulates into its output, so ``W -= lr * a.T @ delta`` costs a
gemm into a gradient buffer and then a pass over ``W`` and that buffer in one thread.
With 2 BLAS threads the gradient is written half by each CPU and the pass then pulls
the other CPU's half across (measurements: docs/performance.md).
:func:`subtract_at_b_` makes that single call through the BLAS
library NumPy itself ships and uses (so no second thread pool), found with
threadpoolctl and checked against NumPy once; where it cannot be found (another BLAS,
another build) it falls back to NumPy operations. The arithmetic is the same:
a gemm, scaled, then a subtraction.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
from threadpoolctl import ThreadpoolController, threadpool_info

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
# (symbol prefix, symbol suffix, integer type): NumPy >= 2 wheels (scipy-openblas64), older
# ILP64 wheels, then 32-bit-integer builds
_NAMINGS = (("scipy_cblas_", "64_", ctypes.c_int64), ("cblas_", "64_", ctypes.c_int64), ("cblas_", "", ctypes.c_int))
_SCALARS = {np.dtype(np.float32): ("s", ctypes.c_float), np.dtype(np.float64): ("d", ctypes.c_double)}

Gemm = Callable[[np.ndarray, np.ndarray, np.ndarray, float], None]


@cache
def _threadpools() -> ThreadpoolController:
    return ThreadpoolController()


def one_blas_thread() -> contextlib.AbstractContextManager:
    """A context in which BLAS runs on one thread (~10 us to enter and leave).

    A matmul's rounding depends on how BLAS splits it between threads (seen: a relative 1e-9 in
    a mean loss between 1 and 2 threads), so what must come out the same wherever it is computed
    (a model's evaluation of the validation and test splits: training reports it, a saved model reproduces it)
    runs inside one.
    """
    return _threadpools().limit(limits=1, user_api="blas")


def _numpy_blas_files() -> list[str]:
    """The BLAS libraries NumPy bundles (``numpy.libs/`` or ``numpy/.dylibs/``) among those loaded."""
    return [
        info["filepath"]
        for info in threadpool_info()
        if info["user_api"] == "blas" and any(part.startswith("numpy") for part in Path(info["filepath"]).parts[-3:-1])
    ]


def _address(array: np.ndarray) -> int:
    """Address of an array's data (for a writable one through its buffer: cheaper than ``array.ctypes.data``)."""
    if array.flags.writeable:
        return ctypes.addressof(ctypes.c_char.from_buffer(array))
    return array.ctypes.data  # read-only, e.g. the memory-mapped training images of a full-batch run


def _bind(path: str, dtype: np.dtype) -> Gemm | None:
    """``subtract_at_b_`` for ``dtype`` through the cblas gemm (and, for a one-row ``a``, ger) of the library at
    ``path``, if it has them."""
    letter, scalar = _SCALARS[dtype]
    library = ctypes.CDLL(path)
    for prefix, suffix, integer in _NAMINGS:
        gemm = getattr(library, f"{prefix}{letter}gemm{suffix}", None)
        ger = getattr(library, f"{prefix}{letter}ger{suffix}", None)
        threads = getattr(library, f"{prefix.replace('cblas_', 'openblas_')}get_num_threads{suffix}", None)
        if gemm is None or ger is None or threads is None:
            continue
        pointer, order = ctypes.c_void_p, ctypes.c_int
        gemm.argtypes = [order, order, order, integer, integer, integer, scalar, pointer, integer, pointer, integer]
        gemm.argtypes += [scalar, pointer, integer]
        ger.argtypes = [order, integer, integer, scalar, pointer, integer, pointer, integer, pointer, integer]
        gemm.restype = ger.restype = None
        threads.argtypes, threads.restype = [], ctypes.c_int

        def by_gemm(c: np.ndarray, a: np.ndarray, b: np.ndarray, alpha: float, gemm=gemm) -> None:
            (rows, k), n = a.shape, b.shape[1]
            gemm(_ROW_MAJOR, _TRANS, _NO_TRANS, k, n, rows, -alpha, _address(a), k, _address(b), n, 1.0, _address(c), n)

        def by_ger(c: np.ndarray, a: np.ndarray, b: np.ndarray, alpha: float, ger=ger) -> None:
            (_, k), n = a.shape, b.shape[1]
            ger(_ROW_MAJOR, k, n, -alpha, _address(a), 1, _address(b), 1, _address(c), n)

        def subtract(c: np.ndarray, a: np.ndarray, b: np.ndarray, alpha: float, threads=threads) -> None:
            # one sample a step on one thread: ger, a rank-one update, is faster (docs/performance.md)
            (by_ger if len(a) == 1 and threads() == 1 else by_gemm)(c, a, b, alpha)

        return subtract if _agrees_with_numpy(by_gemm, 7, dtype) and _agrees_with_numpy(by_ger, 1, dtype) else None
    return None


def _agrees_with_numpy(subtract: Gemm, rows: int, dtype: np.dtype) -> bool:
    """Whether ``subtract`` computes c - 0.5 a.T @ b like NumPy on a small odd-shaped case with ``rows`` rows."""
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal(shape).astype(dtype) for shape in ((rows, 5), (rows, 3), (5, 3)))
    expected = c - 0.5 * (a.T @ b)
    subtract(c, a, b, 0.5)
    return bool(np.allclose(c, expected, rtol=1e-5, atol=1e-6))


@cache
def _blas_subtract(dtype: np.dtype) -> Gemm | None:
    for path in _numpy_blas_files():
        found = _bind(path, dtype)
        if found is not None:
            return found
    return None


def fused_update_available(dtype: np.dtype | type) -> bool:
    """Whether :func:`subtract_at_b_` runs as one BLAS call for arrays of ``dtype`` here."""
    dtype = np.dtype(dtype)
    return dtype in _SCALARS and _blas_subtract(dtype) is not None


def subtract_at_b_(c: np.ndarray, a: np.ndarray, b: np.ndarray, scratch: np.ndarray, alpha: float = 1.0) -> None:
    """``c -= alpha * a.T @ b`` in place for ``a`` (m, k), ``b`` (m, n), ``c`` (k, n); ``scratch`` (k, n) is used
    only by the NumPy fallback."""
    blas = _blas_subtract(c.dtype) if c.dtype in _SCALARS else None
    a_ok = a.flags.c_contiguous and a.dtype == c.dtype
    b_ok = b.flags.c_contiguous and b.dtype == c.dtype
    if blas is not None and a_ok and b_ok and c.flags.c_contiguous and c.flags.writeable:
        blas(c, a, b, alpha)
    else:
        np.matmul(a.T, b, out=scratch)
        if alpha != 1.0:
            scratch *= alpha
        c -= scratch
