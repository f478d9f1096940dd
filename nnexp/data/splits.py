"""A data set split for training, and the preprocessing that turned its pixels into features."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from nnexp.data.degenerate import class_coverage
from nnexp.errors import ConfigError


@dataclass(frozen=True)
class Preprocess:
    """How raw pixels become features: divided by ``pixel_max``, then standardised if ``mean`` is set."""

    pixel_max: float
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    @classmethod
    def fit(cls, scaling: str, pixel_max: float, x_train: np.ndarray) -> Preprocess:
        """The preprocessing of ``scaling`` (unit, raw, standard), fitted on the training images."""
        if scaling == "raw":
            return cls(1.0)
        if scaling == "unit":
            return cls(pixel_max)
        unit = x_train.astype(np.float32) / np.float32(pixel_max)
        std = unit.std(axis=0)
        return cls(pixel_max, unit.mean(axis=0), np.where(std > 1e-6, std, 1.0).astype(np.float32))

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Float32 feature rows from raw images of any shape (n, ...)."""
        x = np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.float32) / np.float32(self.pixel_max)
        if self.mean is not None:
            x -= self.mean
            x /= self.std
        return x


@dataclass(frozen=True)
class Splits:
    """A data set split for training: images are rows of features, labels class indices.

    ``x_<split>`` (n_<split>, features) float32, ``y_<split>`` (n_<split>,) integers 0..n_classes-1.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    preprocess: Preprocess
    n_classes: int
    cache_generation: str | None = None  # the array cache entry the arrays are mapped from (None: not cached)
    image_warnings: tuple[str, ...] = ()  # splits whose images are all constant (nnexp.data.degenerate)
    # the order (n_train,) mini-batches take the training rows in, the same every epoch; None: reshuffled every epoch
    train_order: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    def warnings(self) -> list[str]:
        """What the network can learn little or nothing from (:mod:`nnexp.data.degenerate`): constant images, found
        when the data was split, and the classes of the training and test sets."""
        return [*self.image_warnings, *class_coverage(self.y_train, self.y_test, self.n_classes)]

    def sizes(self) -> dict[str, int]:
        return {"n_train": len(self.y_train), "n_val": len(self.y_val), "n_test": len(self.y_test)}

    def one_vs_all(self, positive_class: int) -> Splits:
        """The binary task 'is it ``positive_class``?': labels 1 for that class, 0 otherwise."""

        def binary(y: np.ndarray) -> np.ndarray:
            return (y == positive_class).astype(np.intp)

        return replace(
            self, y_train=binary(self.y_train), y_val=binary(self.y_val), y_test=binary(self.y_test), n_classes=2
        )


def split_sizes(n_total: int, val_size: float, train_limit: int | None) -> tuple[int, int]:
    """Validation and training set sizes carved from ``n_total`` training images.

    ``val_size`` is a fraction (< 1) or a count (>= 1), in its domain (:data:`nnexp.training.spec.DOMAINS`);
    ``train_limit`` caps the training part. Raises :class:`ConfigError` for an impossible split: a validation or
    training set without an image, or a ``train_limit`` beyond the images left.
    """
    n_val = round(val_size * n_total) if val_size < 1 else int(val_size)
    if not 0 < n_val < n_total:
        raise ConfigError(
            f"data.val_size={val_size} gives {n_val} validation images out of {n_total};"
            f" allowed: a fraction in (0, 1) or a count from 1 to {n_total - 1}"
        )
    n_train = n_total - n_val
    if train_limit is not None and train_limit > n_train:
        raise ConfigError(
            f"data.train_limit={train_limit} is more than the {n_train} training images left after the validation"
            f" split (data.val_size={val_size}); allowed: null (all of them) or a count from 1 to {n_train}"
        )
    return n_val, n_train if train_limit is None else train_limit


def split_indices(
    n_total: int, val_size: float, train_limit: int | None, split_seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The validation and training images among ``n_total`` (indices, each in the order the shuffle gives): a shuffle
    seeded by ``split_seed``, so that files ordered by class still give a representative validation set; sizes and
    errors of :func:`split_sizes`."""
    n_val, n_train = split_sizes(n_total, val_size, train_limit)
    order = np.random.default_rng(split_seed).permutation(n_total)
    return order[:n_val], order[n_val : n_val + n_train]


def training_order(order: str, y_train: np.ndarray, positions: np.ndarray) -> np.ndarray | None:
    """The fixed order of the training rows (``data.order``): None for ``shuffled`` (reshuffled every epoch); for
    ``stored`` the rows by their ``positions`` (n_train,) in the files; for ``sorted`` by label ``y_train`` (n_train,),
    rows of one label by their positions."""
    if order == "shuffled":
        return None
    if order == "stored":
        return np.argsort(positions, kind="stable")
    return np.lexsort((positions, y_train))
