"""Checks of a run's configuration before any work starts, with one-line errors."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig

from nnexp.data.datasets import LOADERS, split_sizes, training_set_shape
from nnexp.errors import ConfigError



@dataclass(frozen=True)
class RunSpec:
    """The validated training settings of one run."""

    activation: str
    hidden: tuple[int, ...]
    lr: float
    epochs: int
    batch_size: int | None  # None: full batch
    init: str
    init_scale: float
    leaky_slope: float
    seed: int
    dtype: str
    blas_threads: int | None  # None: the launcher's cpus_per_task, else 1
    task: str
    positive_class: int
    loss: str


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _hidden(value: Any) -> tuple[int, ...]:
    sizes = list(value) if isinstance(value, (list, tuple, ListConfig)) else [value]
    if not all(_is_int(s) and s >= 1 for s in sizes):
        raise ConfigError(
            f"hidden={value} is invalid; allowed: a positive int or a list of positive ints,"
            " e.g. hidden=128 or hidden=[128,64] ([] for no hidden layer)"
        )
    return tuple(sizes)


def _batch_size(value: Any) -> int | None:
    if value == "full":
        return None
    if _is_int(value) and value >= 1:
        return value
    raise ConfigError(f"batch_size={value} is invalid; allowed: an int >= 1 (1 = pure SGD) or 'full'")


def _require(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value} is invalid; allowed: {allowed}")


def check_batch_size(batch_size: int | None, n_train: int, train_limit: int | None) -> None:
    """A mini-batch may not be larger than the training set (named by ``data.train_limit`` when that capped it)."""
    if batch_size is not None and batch_size > n_train:
        capped = train_limit is not None and n_train == train_limit
        source = f"with data.train_limit={train_limit}" if capped else "after the validation split"
        raise ConfigError(
            f"batch_size={batch_size} is larger than the training set ({n_train} images {source});"
            f" allowed: 1 to {n_train}, or 'full'"
        )


def validate_run(cfg: DictConfig) -> RunSpec:
    """Every check that needs no data loading: values, and sizes against the data files' headers."""
    spec = run_spec(cfg)
    shape = training_set_shape(cfg.data)
    if shape is not None:
        check_batch_size(spec.batch_size, split_sizes(cfg.data, shape[0])[1], cfg.data.train_limit)
    return spec


def run_spec(cfg: DictConfig) -> RunSpec:
    """Validate the values of ``cfg`` and return its training settings; raises :class:`ConfigError`."""
    _require(math.isfinite(cfg.lr) and cfg.lr > 0, "lr", cfg.lr, "a finite number > 0")
    _require(cfg.epochs >= 1, "epochs", cfg.epochs, "an int >= 1")
    _require(math.isfinite(cfg.init_scale) and cfg.init_scale > 0, "init_scale", cfg.init_scale, "a finite number > 0")
    _require(0 < cfg.leaky_slope < 1, "leaky_slope", cfg.leaky_slope, "a number in (0, 1)")
    threads = cfg.blas_threads
    _require(threads is None or threads >= 1, "blas_threads", threads, "null (the launcher's cpus_per_task) or an int >= 1")
    _require(cfg.seed >= 0, "seed", cfg.seed, "an int >= 0")
    _require(0 <= cfg.positive_class <= 9, "positive_class", cfg.positive_class, "a class from 0 to 9")
    binary = cfg.task.value == "one_vs_all"
    _require(binary or cfg.loss.value != "mse", "loss", cfg.loss.value, "cross_entropy for task=multiclass (mse needs task=one_vs_all)")
    data = cfg.data
    _require(data.name in LOADERS, "data.name", data.name, ", ".join(sorted(LOADERS)))
    valid_size = math.isfinite(data.val_size) and data.val_size > 0
    _require(valid_size, "data.val_size", data.val_size, "a fraction in (0, 1) or a count >= 1")
    _require(data.split_seed >= 0, "data.split_seed", data.split_seed, "an int >= 0")
    _require(data.train_limit is None or data.train_limit >= 1, "data.train_limit", data.train_limit, "null or an int >= 1")
    return RunSpec(
        activation=cfg.activation.value,
        hidden=_hidden(cfg.hidden),
        lr=float(cfg.lr),
        epochs=int(cfg.epochs),
        batch_size=_batch_size(cfg.batch_size),
        init=cfg.init.value,
        init_scale=float(cfg.init_scale),
        leaky_slope=float(cfg.leaky_slope),
        seed=int(cfg.seed),
        dtype=cfg.dtype.value,
        blas_threads=cfg.blas_threads,
        task=cfg.task.value,
        positive_class=int(cfg.positive_class),
        loss=cfg.loss.value,
    )
