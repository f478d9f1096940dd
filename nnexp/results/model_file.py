"""A trained network saved with what is needed to use it again (``model.npz``, in its run folder)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from nnexp.data.splits import Preprocess
from nnexp.errors import DataFileError
from nnexp.model.network import MLP
from nnexp.places import temporary_path

MODEL_FILE = "model.npz"
ZIP_MAGIC = b"PK\x03\x04"  # how an .npz archive (a zip file) begins
META_KEYS = ("activation", "leaky_slope", "loss", "layer_sizes", "pixel_max", "config")  # required in meta


def save_model(path: Path, model: MLP, preprocess: Preprocess, config: dict[str, Any], diverged: bool = False) -> None:
    """Write weights, biases, input preprocessing and the run's config to ``path`` (atomically); ``diverged``: the
    run diverged (its weights, finite or not, predict nothing: :func:`load_model` refuses them)."""
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
        "diverged": diverged,
    }
    tmp = temporary_path(path, "tmp.npz")
    try:
        np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_model(path: Path) -> tuple[MLP, Preprocess, dict[str, Any]]:
    """The network, its input preprocessing and the run config saved by :func:`save_model`.

    Raises :class:`DataFileError` (one line naming ``path``) for a file that is not a readable
    model, a diverged run's, or one whose weights are not all finite.
    """
    arrays = _read_archive(path)
    try:
        meta = _decode_meta(arrays)
        sizes = meta["layer_sizes"]
        weights = [_array(arrays, f"W{l}", (sizes[l], sizes[l + 1])) for l in range(len(sizes) - 1)]
        biases = [_array(arrays, f"b{l}", (sizes[l + 1],)) for l in range(len(sizes) - 1)]
        mean, std = _input_scaling(arrays, sizes[0])
        # models saved before output kinds existed have softmax (or a single sigmoid unit)
        model = MLP(
            weights, biases, meta["activation"], meta["leaky_slope"], meta["loss"], meta.get("output", "softmax")
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _unreadable(path, exc) from None
    if meta.get("diverged") is True:
        raise DataFileError(
            f"{path}: the run diverged (its loss stopped being finite), so its predictions would be meaningless:"
            " train it again, e.g. with a smaller lr"
        )
    _check_finite(path, [*weights, *biases, *([mean, std] if mean is not None else [])])
    return model, Preprocess(meta["pixel_max"], mean, std), meta["config"]


def _unreadable(path: Path, exc: BaseException) -> DataFileError:
    """The one-line error for a file that is not a model :func:`save_model` wrote."""
    if isinstance(exc, OSError) and exc.strerror:
        reason = exc.strerror
    else:
        reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    reason = " ".join(str(reason).split())[:160] or type(exc).__name__
    return DataFileError(
        f"{path}: not a readable nnexp model ({reason}); rerun the run with save_model=true to save it again"
    )


def _read_archive(path: Path) -> dict[str, np.ndarray]:
    """Every array of the .npz archive at ``path``."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(ZIP_MAGIC))
        if head != ZIP_MAGIC:
            raise ValueError("empty file" if not head else "not an .npz (zip) archive")
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except Exception as exc:  # zipfile, numpy's header parser, tokenize... raise many kinds for damaged bytes
        raise _unreadable(path, exc) from None


def _decode_meta(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The ``meta`` JSON object, checked; raises ValueError if it is missing or malformed."""
    if "meta" not in arrays or arrays["meta"].dtype.kind != "U" or arrays["meta"].ndim != 0:
        raise ValueError("no meta text")
    try:
        meta = json.loads(str(arrays["meta"]))
    except json.JSONDecodeError as exc:
        raise ValueError(f"meta is not JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"meta is a JSON {type(meta).__name__}, not an object")
    missing = [key for key in META_KEYS if key not in meta]
    if missing:
        raise ValueError(f"meta lacks {', '.join(missing)}")
    _check_meta_values(meta)
    return meta


def _check_meta_values(meta: dict[str, Any]) -> None:
    """Raise ValueError unless the layer sizes, numbers and run config of ``meta`` are usable."""
    sizes, config = meta["layer_sizes"], meta["config"]
    if not (isinstance(sizes, list) and len(sizes) >= 2 and all(type(n) is int and n > 0 for n in sizes)):
        raise ValueError(f"layer_sizes {sizes!r} is not a list of at least two positive integers")
    for key in ("pixel_max", "leaky_slope"):
        if type(meta[key]) not in (int, float) or not math.isfinite(meta[key]):
            raise ValueError(f"{key} {meta[key]!r} is not a number")
    if meta["pixel_max"] <= 0:
        raise ValueError(f"pixel_max {meta['pixel_max']!r} is not positive")
    if not (isinstance(config, dict) and "task" in config and "data" in config):
        raise ValueError("the run config lacks task or data")


def _array(arrays: dict[str, np.ndarray], name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The floating-point array ``name`` of ``shape``; raises ValueError otherwise."""
    if name not in arrays:
        raise ValueError(f"no {name} array")
    array = arrays[name]
    if array.shape != shape or array.dtype.kind != "f":
        raise ValueError(f"{name} is {array.dtype} {array.shape}, expected floating-point {shape}")
    return array


def _input_scaling(arrays: dict[str, np.ndarray], n_inputs: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The saved standardisation (input_mean, input_std), or (None, None) if the run did not standardise."""
    if "input_mean" not in arrays and "input_std" not in arrays:
        return None, None
    return _array(arrays, "input_mean", (n_inputs,)), _array(arrays, "input_std", (n_inputs,))


def _check_finite(path: Path, arrays: list[np.ndarray]) -> None:
    """Raise :class:`DataFileError` if any saved value is NaN or infinite (a diverged run)."""
    bad = sum(int(np.count_nonzero(~np.isfinite(a))) for a in arrays)
    if bad:
        total = sum(a.size for a in arrays)
        raise DataFileError(
            f"{path}: {bad} of {total} saved weights are not finite (NaN or infinite), so its predictions"
            " would be meaningless; the run diverged: train it again, e.g. with a smaller lr"
        )
