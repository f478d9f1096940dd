"""Data a network learns little or nothing from, found before training: constant images, a single class, classes
missing from the training or the test set. Each finding is one sentence, a warning of the run (it still trains)."""

from __future__ import annotations

import numpy as np

SHOWN_CLASSES = 10  # classes named in a warning; more are counted


def _classes(labels: np.ndarray) -> str:
    names = ", ".join(str(label) for label in labels[:SHOWN_CLASSES])
    return names if len(labels) <= SHOWN_CLASSES else f"{names}, … ({len(labels)} classes)"


def constant_images(images: np.ndarray, split: str) -> list[str]:
    """Whether every image of ``split`` (raw pixels, one image per row of the first axis) is one value throughout."""
    if not len(images):
        return []
    flat = images.reshape(len(images), -1)
    lowest, highest = flat.min(axis=1), flat.max(axis=1)
    if not np.array_equal(lowest, highest):
        return []
    values = np.unique(lowest)
    what = f"every pixel is {values[0]:g}" if len(values) == 1 else f"each is one value ({len(values)} values)"
    return [f"all {len(images)} {split} images are constant ({what}): there is nothing to learn from them"]


def class_coverage(y_train: np.ndarray, y_test: np.ndarray, n_classes: int) -> list[str]:
    """A training set of one class, and classes that one of the training and test sets has and the other lacks."""
    trained = np.flatnonzero(np.bincount(y_train, minlength=n_classes))
    tested = np.flatnonzero(np.bincount(y_test, minlength=n_classes))
    found = []
    if len(trained) == 1:
        found.append(f"the training set holds one class only (class {trained[0]}): the network can learn nothing else")
    untrained = np.setdiff1d(tested, trained)
    if len(untrained):
        found.append(f"test classes {_classes(untrained)} have no training image: the network cannot learn them")
    untested = np.setdiff1d(trained, tested)
    if len(untested):
        found.append(f"training classes {_classes(untested)} are not in the test set: the test accuracy omits them")
    return found
