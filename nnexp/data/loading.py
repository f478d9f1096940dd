"""From data settings to :class:`Splits`: open the data set, split, preprocess, cache the arrays."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np

from nnexp.data.cache import bad_generations, entry_path, load_cached, needs_check, save_cached, verify
from nnexp.data.dataset import Dataset
from nnexp.data.degenerate import constant_images
from nnexp.data.download import cache_folder
from nnexp.data.settings import DataConfig, Order, Scaling
from nnexp.data.splits import Preprocess, Splits, split_indices, training_order
from nnexp.errors import ConfigError, DataFileError
from nnexp.places import remove_leftovers

log = logging.getLogger(__name__)


@cache
def readers() -> dict[str, type[Dataset]]:
    """Every reader of :mod:`nnexp.data.sets`, by its ``LOADER`` name."""
    import nnexp.data.sets as sets

    found = {}
    for info in pkgutil.iter_modules(sets.__path__):
        module = importlib.import_module(f"{sets.__name__}.{info.name}")
        found[module.LOADER] = module.Reader
    return found


def open_dataset(cfg: DataConfig) -> Dataset:
    """The data set described by ``cfg``, opened by its reader (``cfg.loader``)."""
    known = readers()
    if cfg.loader not in known:
        raise ConfigError(f"data.loader={cfg.loader} is not a known reader; allowed: {', '.join(sorted(known))}")
    return known[cfg.loader](cfg)


def build_splits(cfg: DataConfig, dataset: Dataset) -> Splits:
    """Read ``dataset``, split off the validation set and preprocess the images.

    The split is a seeded shuffle (:func:`split_indices`). Constant images are found here, on the raw pixels, once
    (the array cache keeps what was found).
    """
    raw = dataset.load()
    val, train = split_indices(len(raw.y_train), cfg.val_size, cfg.train_limit, cfg.split_seed)
    train_images = raw.x_train[train]
    prepare = Preprocess.fit(Scaling(cfg.scaling).value, raw.pixel_max, train_images)

    def labels(y: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(y, dtype=np.intp)

    return Splits(
        name=cfg.name,
        x_train=prepare(train_images),
        y_train=labels(raw.y_train[train]),
        x_val=prepare(raw.x_train[val]),
        y_val=labels(raw.y_train[val]),
        x_test=prepare(raw.x_test),
        y_test=labels(raw.y_test),
        preprocess=prepare,
        n_classes=dataset.n_classes,
        image_warnings=(*constant_images(train_images, "training"), *constant_images(raw.x_test, "test")),
    )


def _cache_key(cfg: DataConfig, source: str) -> dict:
    return {
        "source": source,
        "val_size": cfg.val_size,
        "split_seed": cfg.split_seed,
        "train_limit": cfg.train_limit,
        "scaling": Scaling(cfg.scaling).value,
    }


def cache_location(cfg: DataConfig) -> tuple[Path, dict] | None:
    """Where the arrays of ``cfg`` are cached (folder, entry key); None when they are not (``data.cache_arrays``
    off, or files not here yet)."""
    if not cfg.cache_arrays:
        return None
    identity = open_dataset(cfg).identity()
    return None if identity is None else (cache_folder(cfg) / "arrays", _cache_key(cfg, identity.digest))


def damaged_caches(cfg: DataConfig) -> set[str]:
    """The generations of ``cfg``'s array cache entries found damaged: runs on them have to run again."""
    return bad_generations(cache_folder(cfg) / "arrays")


def check_cache(cfg: DataConfig, always: bool = True) -> None:
    """Verify the cached arrays of ``cfg`` against their checksums (``always``, or only if they changed since
    the last check); a damaged entry is removed, to be built again, and said so in one line."""
    location = cache_location(cfg)
    if location is None:
        return
    folder, key = location
    if always or needs_check(entry_path(folder, cfg.name, key)):
        problem = verify(folder, cfg.name, key)
        if problem is not None:
            log.warning("array cache damaged, built again: %s", problem)


def prepare_data(cfg: DataConfig) -> None:
    """What a sweep does once before its runs: the files here (downloaded if need be), the cached arrays
    verified against their checksums and built if missing. Raises DataUnavailableError / DataFileError."""
    if cfg.cache_arrays:
        check_cache(cfg, always=True)
        load_dataset(cfg)
    else:
        open_dataset(cfg).load()


def load_dataset(cfg: DataConfig) -> Splits:
    """The splits of the data set ``cfg`` describes (see :func:`build_splits`).

    With ``cfg.cache_arrays`` the splits are built once, saved as ``.npy`` files in
    the cache folder and memory-mapped from then on, so parallel runs share one copy
    in the page cache instead of each decoding the files into memory of its own. Arrays
    changed since their last check are verified first, and entries that killed processes left unfinished
    removed; a cache that cannot be written (a full disk) leaves the run loading without it.
    """
    dataset = open_dataset(cfg)
    location = cache_location(cfg)
    if location is None:
        splits = build_splits(cfg, dataset)
    else:
        folder, key = location
        remove_leftovers(folder)
        check_cache(cfg, always=False)
        splits = load_cached(folder, cfg.name, key, dataset.n_classes)
        if splits is None:
            built = build_splits(cfg, dataset)
            try:
                save_cached(folder, built, key)
            except OSError as exc:
                log.warning("array cache not written to %s (%s): loading without it", folder, exc.strerror or exc)
                splits = built
            else:  # the entry just written; if another process removed it meanwhile, the arrays built here
                splits = load_cached(folder, cfg.name, key, dataset.n_classes) or built
    for part in ("train", "val", "test"):  # after a cache hit too: data.n_classes may differ from the cached run's
        labels = getattr(splits, f"y_{part}")
        if len(labels) and not 0 <= labels.min() <= labels.max() < dataset.n_classes:
            raise DataFileError(
                f"{cfg.name}: {part} labels {labels.min()}..{labels.max()} do not fit"
                f" data.n_classes={dataset.n_classes}; allowed: labels 0..{dataset.n_classes - 1}"
                " (set data.n_classes to the number of classes)"
            )
    return _ordered(cfg, dataset, splits)


def _ordered(cfg: DataConfig, dataset: Dataset, splits: Splits) -> Splits:
    """``splits`` with the training rows' fixed order of ``data.order`` (:func:`training_order`); as they are for
    ``shuffled``."""
    order = Order(cfg.order).value
    if order == "shuffled":
        return splits
    n_total = dataset.training_shape()[0]  # the files are here: the splits were read from them
    positions = split_indices(n_total, cfg.val_size, cfg.train_limit, cfg.split_seed)[1]
    return replace(splits, train_order=training_order(order, splits.y_train, positions))
