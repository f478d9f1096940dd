"""Saving a trained network with what is needed to use it again (``model.npz``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from nnexp.data.splits import Preprocess
from nnexp.model.network import MLP

MODEL_FILE = "model.npz"


def save_model(path: Path, model: MLP, preprocess: Preprocess, config: dict[str, Any]) -> None:
    """Write weights, biases, input preprocessing and the run's config to ``path`` (atomically)."""
    arrays = {f"W{l}": w for l, w in enumerate(model.weights)} | {f"b{l}": b for l, b in enumerate(model.biases)}
    if preprocess.mean is not None:
        arrays |= {"input_mean": preprocess.mean, "input_std": preprocess.std}
    meta = {
        "output": model.output_kind,
        "activation": model.activation,
        "leaky_slope": model.leaky_slope,
        "loss": model.loss,
        "layer_sizes": model.layer_sizes,
        "pixel_max": preprocess.pixel_max,
        "config": config,
    }
    tmp = path.with_name(f".{path.name}.tmp.npz")
    try:
        np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_model(path: Path) -> tuple[MLP, Preprocess, dict[str, Any]]:
    """The network, its input preprocessing and the run config saved by :func:`save_model`."""
    with np.load(path) as archive:
        meta = json.loads(str(archive["meta"]))
        layers = len(meta["layer_sizes"]) - 1
        weights = [archive[f"W{l}"] for l in range(layers)]
        biases = [archive[f"b{l}"] for l in range(layers)]
        mean = archive.get("input_mean", None)
        std = archive.get("input_std", None)
    # models saved before output kinds existed have softmax (or a single sigmoid unit)
    model = MLP(weights, biases, meta["activation"], meta["leaky_slope"], meta["loss"], meta.get("output", "softmax"))
    return model, Preprocess(meta["pixel_max"], mean, std), meta["config"]
