"""scikit-learn's bundled 8x8 digits (1,797 images, 10 classes): no files, no download.

A fixed fifth of the images, drawn with ``data.split_seed``, is held out as the test set.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, distribution, version
from pathlib import Path

import numpy as np

from nnexp.data.content import DataIdentity, combined_digest
from nnexp.data.dataset import RawImages
from nnexp.data.settings import DataConfig

LOADER = "digits"
N_IMAGES = 1797
N_TEST = N_IMAGES // 5
N_FEATURES = 64  # 8x8 images
SHIPPED = "sklearn/datasets/data/digits.csv.gz"  # the file scikit-learn's load_digits reads, in its distribution


def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """The images (1797, 64) and labels (1797,) of ``sklearn.datasets.load_digits(return_X_y=True)``.

    Read from the file scikit-learn ships (25 ms) instead of importing ``sklearn.datasets`` (2 s); through
    ``load_digits`` itself when that file is not where scikit-learn has kept it, or not as it was.
    """
    try:
        table = np.loadtxt(Path(distribution("scikit-learn").locate_file(SHIPPED)), delimiter=",")
    except (OSError, ValueError, PackageNotFoundError):
        table = None
    if table is None or table.shape != (N_IMAGES, N_FEATURES + 1):
        from sklearn.datasets import load_digits

        return load_digits(return_X_y=True)
    return table[:, :-1], table[:, -1].astype(int)


class Reader:
    """The digits of ``sklearn.datasets.load_digits``, pixel values 0..16."""

    def __init__(self, cfg: DataConfig) -> None:
        self.cfg = cfg

    @property
    def n_classes(self) -> int:
        return self.cfg.n_classes

    @property
    def fixed_training_images(self) -> bool:
        return False  # the test set is drawn with data.split_seed

    def training_shape(self) -> tuple[int, int]:
        return N_IMAGES - N_TEST, N_FEATURES

    def identity(self) -> DataIdentity:
        release = version("scikit-learn")  # without importing scikit-learn (~0.1 s)
        counts = f"{N_IMAGES - N_TEST:,} / {N_TEST:,}"
        return DataIdentity(combined_digest({"sklearn_digits": release}), f"scikit-learn digits {release} ({counts})")

    def load(self) -> RawImages:
        x, y = read_digits()
        order = np.random.default_rng(self.cfg.split_seed).permutation(len(y))
        test, train = order[:N_TEST], order[N_TEST:]
        return RawImages(x[train], y[train], x[test], y[test], pixel_max=16.0)
