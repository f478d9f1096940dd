"""Per-epoch diagnostics that explain a result: saturated and dead units, weight and gradient norms.

Computed on a fixed probe of training images after each epoch (outside the timed
training), one set of columns per layer:

- ``h<l>_saturated`` (sigmoid, tanh): fraction of unit outputs within 1% of the
  activation's bounds (sigmoid < 0.01 or > 0.99, |tanh| > 0.98), where the
  derivative nearly vanishes;
- ``h<l>_dead`` (relu, leaky_relu): fraction of units that are not positive for any
  probe image (no gradient flows through a dead ReLU);
- ``w<l>_norm``, ``grad<l>_norm``: Frobenius norms of layer l's weights and of the
  gradient of the loss on the probe, for hidden and output layers alike.

Networks that share a probe are diagnosed together, as a pack of copies of them (:mod:`nnexp.model.pack`): one
forward and one backward pass of the probe for all, its images read once; a network alone, as a pack of one, by the
operations of its own forward and backward pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nnexp.model import MLP
from nnexp.model.gradient import formed
from nnexp.model.pack import Pack

PROBE_SIZE = 1000


def diagnostic_columns(model: MLP) -> list[str]:
    """Column names of :func:`diagnose` for this network's depth."""
    hidden = len(model.weights) - 1
    columns = [f"h{l}_{kind}" for l in range(1, hidden + 1) for kind in ("saturated", "dead")]
    return columns + [f"{kind}{l}_norm" for l in range(1, hidden + 2) for kind in ("w", "grad")]


def diagnose(models: Sequence[MLP], x_probe: np.ndarray, y_probes: Sequence[np.ndarray]) -> list[dict[str, float]]:
    """The diagnostics of each of ``models`` (of one layer size, dtype and hidden activation) on the probe images
    ``x_probe`` (m, n_in) they share, ``y_probes[i]`` (m,) the labels of model i (see the module docstring)."""
    copies = [model.copy() for model in models]  # a pack takes its members' first layers into arrays of its own
    pack = Pack(copies)
    pws = pack.workspace(len(x_probe))
    passes = pack.forward(x_probe, pws, [None] * len(copies), range(len(copies)))
    activation = copies[0].activation_fn
    rows: list[dict[str, float]] = []
    above = []
    for model, acts, ws, y in zip(copies, passes, pws.members, y_probes):
        row: dict[str, float] = {}
        for l, a in enumerate(acts[:-1], start=1):
            saturated = activation.saturated(a)
            row[f"h{l}_saturated"] = float(saturated.mean()) if saturated is not None else float("nan")
            row[f"h{l}_dead"] = float((a <= 0).all(axis=0).mean()) if activation.rectifier else float("nan")
        rows.append(row)
        above.append(model.backward(x_probe, y, acts, ws, first_layer=False))  # the logits become deltas
    first = pack.backward(x_probe, pws)
    for model, row, first_grad, grads in zip(copies, rows, first, above):
        for l, (w, g) in enumerate(zip(model.weights, [first_grad, *grads]), start=1):
            row[f"w{l}_norm"] = float(np.linalg.norm(w))
            row[f"grad{l}_norm"] = float(np.linalg.norm(formed(g)))
    return rows
