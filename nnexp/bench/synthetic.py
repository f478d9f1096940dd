"""Synthetic MNIST-shaped data for the benchmark (784 pixels, 10 learnable classes, fixed seed): images and splits."""

from __future__ import annotations

import numpy as np

from nnexp.data import Preprocess, Splits

N_FEATURES, N_CLASSES, SEED = 784, 10, 0
EVAL_ROWS = 1_000


def synthetic_pixels(n: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """``n`` MNIST-shaped images (uint8 rows of 784 pixels) and labels 0..9: pixels : (n, 784), y : (n,).

    Each class brightens its own band of pixels, so the labels can be learnt.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, size=n).astype(np.intp)
    pixels = rng.integers(0, 256, size=(n, N_FEATURES), dtype=np.uint8)
    band = N_FEATURES // N_CLASSES
    for label in range(N_CLASSES):
        pixels[y == label, label * band : (label + 1) * band] |= 0x80
    return pixels, y


def synthetic_splits(samples: int = 60_000, seed: int = SEED) -> Splits:
    """Synthetic splits scaled to [0, 1] as a run scales them: ``samples`` training rows, 1,000 validation
    and 1,000 test rows."""
    pixels, y = synthetic_pixels(samples + 2 * EVAL_ROWS, seed)
    unit = Preprocess(pixel_max=255.0)
    x = unit(pixels)
    train, val, test = slice(samples), slice(samples, samples + EVAL_ROWS), slice(samples + EVAL_ROWS, None)
    return Splits(
        name="synthetic",
        x_train=x[train],
        y_train=y[train],
        x_val=x[val],
        y_val=y[val],
        x_test=x[test],
        y_test=y[test],
        preprocess=unit,
        n_classes=N_CLASSES,
    )
