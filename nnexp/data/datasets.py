"""Data sets as train/validation/test splits of flat float images in [0, 1]."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from nnexp.config import DataConfig, Scaling
from nnexp.data.download import default_cache_dir, fetch
from nnexp.data.cache import load_cached, save_cached
from nnexp.data.idx import read_idx, read_idx_shape
from nnexp.data.splits import N_CLASSES, Preprocess, Splits
from nnexp.errors import ConfigError, DataFileError, DataUnavailableError

log = logging.getLogger(__name__)

def _find_local(folder: Path, file_name: str) -> Path | None:
    """The file in ``folder``, compressed (``.gz``) or not."""
    for candidate in (folder / file_name, folder / file_name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _cache_dir(cfg: DataConfig) -> Path:
    return Path(cfg.cache_dir).expanduser() if cfg.cache_dir else default_cache_dir(cfg.name)


def _idx_paths(cfg: DataConfig) -> dict[str, Path]:
    """Local paths of the four IDX files: from ``cfg.root``, or downloaded into the cache."""
    if cfg.root:
        folder = Path(cfg.root).expanduser()
        found = {role: _find_local(folder, name) for role, name in cfg.files.items()}
        missing = [cfg.files[role] for role, path in found.items() if path is None]
        if missing:
            raise DataUnavailableError(
                f"data.root={folder} lacks {', '.join(missing)}: put the IDX files of {cfg.name} there"
                " (gzip-compressed or not), or unset data.root to download them"
            )
        return found
    cache = _cache_dir(cfg)
    try:
        by_name = fetch({name: cfg.md5[name] for name in cfg.files.values()}, list(cfg.urls), cache)
    except DataUnavailableError as exc:
        raise DataUnavailableError(
            f"{cfg.name} could not be downloaded: {exc}. Put the files {', '.join(cfg.files.values())}"
            f" in {cache}, or point data.root=<folder> (for MNIST also NNEXP_DATA_DIR) at a folder"
            " holding them; data=digits runs with no download at all"
        ) from None
    return {role: by_name[name] for role, name in cfg.files.items()}


def _load_idx(cfg: DataConfig) -> tuple[np.ndarray, ...]:
    paths = _idx_paths(cfg)
    arrays = {role: read_idx(path) for role, path in paths.items()}
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataFileError(
                f"{paths[f'{part}_images']}: {part} images of shape {images.shape} do not match labels of"
                f" shape {labels.shape} in {paths[f'{part}_labels']}; expected (n, rows, cols) and (n,)"
            )
        if labels.size and (labels.min() < 0 or labels.max() >= N_CLASSES):
            raise DataFileError(f"{paths[f'{part}_labels']}: labels outside 0..{N_CLASSES - 1}")
    def flat(images: np.ndarray) -> np.ndarray:
        return images.reshape(len(images), -1)

    return flat(arrays["train_images"]), arrays["train_labels"], flat(arrays["test_images"]), arrays["test_labels"], 255.0


def _load_digits(cfg: DataConfig) -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(cfg.split_seed).permutation(len(y))
    test, train = order[:DIGITS_TEST], order[DIGITS_TEST:]
    return x[train], y[train], x[test], y[test], 16.0


LOADERS = {"mnist": _load_idx, "fashion_mnist": _load_idx, "digits": _load_digits}


N_DIGITS = 1797
DIGITS_TEST = N_DIGITS // 5
DIGITS_FEATURES = 64  # 8x8 images


def split_sizes(cfg: DataConfig, n_total: int) -> tuple[int, int]:
    """Validation and training set sizes carved from ``n_total`` training images.

    ``cfg.val_size`` is a fraction (< 1) or a count (>= 1); ``cfg.train_limit`` caps
    the training part. Raises :class:`ConfigError` for an impossible split.
    """
    n_val = int(round(cfg.val_size * n_total)) if cfg.val_size < 1 else int(cfg.val_size)
    if not 0 < n_val < n_total:
        raise ConfigError(
            f"data.val_size={cfg.val_size} gives {n_val} validation images out of {n_total};"
            f" allowed: a fraction in (0, 1) or a count from 1 to {n_total - 1}"
        )
    n_train = n_total - n_val
    return n_val, n_train if cfg.train_limit is None else min(cfg.train_limit, n_train)


def training_set_shape(cfg: DataConfig) -> tuple[int, int] | None:
    """Number of training images (before the validation split) and features of each, from file headers only.

    None when the files are not on this machine yet (they are downloaded by the run).
    """
    if cfg.name == "digits":
        return N_DIGITS - DIGITS_TEST, DIGITS_FEATURES
    images = cfg.files["train_images"]
    folder = Path(cfg.root).expanduser() if cfg.root else _cache_dir(cfg)
    path = _find_local(folder, images)
    if path is None:
        if cfg.root:
            raise DataUnavailableError(f"data.root={folder} lacks {images}: put the IDX files of {cfg.name} there")
        return None
    n_images, *image_shape = read_idx_shape(path)
    return n_images, math.prod(image_shape)


def source_identity(cfg: DataConfig) -> dict | None:
    """What the data set's arrays are made from: file sizes and times, official md5s, or versions.

    None when the files cannot be found (the loader then says what is missing).
    """
    if cfg.name == "digits":
        import sklearn

        return {"sklearn": sklearn.__version__}
    if not cfg.root:
        return {"md5": dict(cfg.md5)}
    folder = Path(cfg.root).expanduser()
    files = [_find_local(folder, name) for name in cfg.files.values()]
    if None in files:
        return None
    return {str(path.resolve()): [path.stat().st_size, path.stat().st_mtime_ns] for path in files}


def build_splits(cfg: DataConfig) -> Splits:
    """Read the data set named by ``cfg.name``, split off the validation set and preprocess the images.

    The split is a seeded shuffle (``cfg.split_seed``), so files ordered by class
    still give a representative validation set.
    """
    x_train, y_train, x_test, y_test, pixel_max = LOADERS[cfg.name](cfg)
    n_val, n_train = split_sizes(cfg, len(y_train))
    order = np.random.default_rng(cfg.split_seed).permutation(len(y_train))
    val, train = order[:n_val], order[n_val : n_val + n_train]

    prepare = Preprocess.fit(Scaling(cfg.scaling).value, pixel_max, x_train[train])

    def labels(y: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(y, dtype=np.intp)

    return Splits(
        name=cfg.name,
        x_train=prepare(x_train[train]),
        y_train=labels(y_train[train]),
        x_val=prepare(x_train[val]),
        y_val=labels(y_train[val]),
        x_test=prepare(x_test),
        y_test=labels(y_test),
        preprocess=prepare,
    )


def load_dataset(cfg: DataConfig) -> Splits:
    """The splits of the data set named by ``cfg.name`` (see :func:`build_splits`).

    With ``cfg.cache_arrays`` the splits are built once, saved as ``.npy`` files in
    the cache folder and memory-mapped from then on, so parallel runs share one copy
    in the page cache instead of each decoding the files into memory of its own.
    """
    if cfg.name not in LOADERS:
        raise ConfigError(f"data.name={cfg.name!r} is not a known data set; allowed: {', '.join(sorted(LOADERS))}")
    identity = source_identity(cfg) if cfg.cache_arrays else None
    if identity is None:
        splits = build_splits(cfg)
    else:
        key = {"source": identity, "val_size": cfg.val_size, "split_seed": cfg.split_seed,
               "train_limit": cfg.train_limit, "scaling": Scaling(cfg.scaling).value}  # fmt: skip
        folder = _cache_dir(cfg) / "arrays"
        splits = load_cached(folder, cfg.name, key)
        if splits is None:
            save_cached(folder, build_splits(cfg), key)
            splits = load_cached(folder, cfg.name, key)
    log.info("data %s: %s, %d features", cfg.name, splits.sizes(), splits.n_features)
    return splits
