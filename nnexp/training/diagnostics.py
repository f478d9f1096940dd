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
"""

from __future__ import annotations

import numpy as np

from nnexp.model import MLP

PROBE_SIZE = 1000


def diagnostic_columns(model: MLP) -> list[str]:
    """Column names of :func:`diagnose` for this network's depth."""
    hidden = len(model.weights) - 1
    columns = [f"h{l}_{kind}" for l in range(1, hidden + 1) for kind in ("saturated", "dead")]
    return columns + [f"{kind}{l}_norm" for l in range(1, hidden + 2) for kind in ("w", "grad")]


def diagnose(model: MLP, x_probe: np.ndarray, y_probe: np.ndarray) -> dict[str, float]:
    """The diagnostics of ``model`` on the probe: ``x_probe`` (m, n_in), ``y_probe`` (m,) (see the module docstring)."""
    row: dict[str, float] = {}
    activation = model.activation_fn
    hidden = model.layer_outputs(x_probe)[:-1] if len(model.weights) > 1 else []
    for l, a in enumerate(hidden, start=1):
        saturated = activation.saturated(a)
        row[f"h{l}_saturated"] = float(saturated.mean()) if saturated is not None else float("nan")
        row[f"h{l}_dead"] = float((a <= 0).all(axis=0).mean()) if activation.rectifier else float("nan")
    _, grad_w, _ = model.loss_and_gradients(x_probe, y_probe)
    for l, (w, g) in enumerate(zip(model.weights, grad_w), start=1):
        row[f"w{l}_norm"] = float(np.linalg.norm(w))
        row[f"grad{l}_norm"] = float(np.linalg.norm(g))
    return row
