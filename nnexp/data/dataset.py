"""What a data set is to nnexp: the :class:`Dataset` protocol its readers follow.

A reader is one module in :mod:`nnexp.data.sets` that defines ``LOADER`` (its name, which
a data YAML selects with ``loader: <name>``) and ``Reader`` (a class following
:class:`Dataset`); :func:`nnexp.data.loading.open_dataset` finds it. A new data set in a
known format is one YAML in ``conf/data/``; a new format is one module there as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from nnexp.data.content import DataIdentity
from nnexp.data.settings import DataConfig


@dataclass(frozen=True)
class RawImages:
    """A data set as its files hold it: images flattened to rows of raw pixel values, labels 0..K-1.

    ``x_train`` (n_train, features), ``y_train`` (n_train,), ``x_test`` (n_test, features),
    ``y_test`` (n_test,); ``pixel_max`` is the largest pixel value of the format (255 for MNIST).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    pixel_max: float


class Dataset(Protocol):
    """A data set opened from its settings (``data.*``).

    A reader may also say ``fixed_training_images = True`` (an attribute or property): its training images (before
    the validation split) and its test images are the same whatever ``data.split_seed`` (not so for a data set whose
    test set is drawn with it), so that runs on other splits of it can train as one pool
    (:mod:`nnexp.data.pack_data`). A reader that does not say so is taken not to have them
    (:func:`fixed_training_images`).
    """

    def __init__(self, cfg: DataConfig) -> None: ...

    @property
    def n_classes(self) -> int:
        """Number of classes; labels are 0 .. n_classes - 1."""

    def training_shape(self) -> tuple[int, int] | None:
        """(images before the validation split, features of each), from file headers only;
        None when the files are not on this machine yet (they are downloaded by :meth:`load`)."""

    def identity(self) -> DataIdentity | None:
        """What the data set is by content (digests of the decompressed files, official checksums, versions):
        the key of the array cache and part of each run's fingerprint; None when the files cannot be found."""

    def load(self) -> RawImages:
        """Read (downloading if needed) and check the files; raises DataFileError / DataUnavailableError."""


def fixed_training_images(dataset: Dataset) -> bool:
    """Whether ``dataset``'s training and test images are the same whatever ``data.split_seed`` (False unless its
    reader says so: see :class:`Dataset`)."""
    return bool(getattr(dataset, "fixed_training_images", False))
