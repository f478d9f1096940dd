"""The data settings of a run (``data.*``): which data set, where its files are, how it is split."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Dict, List, Optional

from nnexp.data.idx import IDX_FILES


class Scaling(Enum):
    """Input preprocessing: pixels / max (to [0, 1]), raw pixel values, or standardised per pixel."""

    unit = "unit"
    raw = "raw"
    standard = "standard"


class Order(Enum):
    """The order mini-batches take the training images in: reshuffled every epoch (with the run's seed), or the
    same every epoch: as the files store them, or sorted by label (within a label as the files store them)."""

    shuffled = "shuffled"
    stored = "stored"
    sorted = "sorted"


@dataclass
class DataConfig:
    """Which data set to use, where its files come from, and how it is split."""

    name: str = "mnist"
    # Which reader of nnexp.data.sets opens the files: "idx" (MNIST's format) or "digits".
    loader: str = "idx"
    # Labels are 0 .. n_classes - 1.
    n_classes: int = 10
    # A folder that already holds the four IDX files (no checksum: local files are trusted).
    root: Optional[str] = None
    # Where downloads are cached; default: the OS cache folder (platformdirs: ~/.cache/nnexp on Linux).
    cache_dir: Optional[str] = None
    # Mirrors tried in order; each is a base URL the file names are appended to.
    urls: List[str] = field(default_factory=list)
    files: Dict[str, str] = field(default_factory=lambda: dict(IDX_FILES))
    # md5 of each official file, by file name, verified after every download.
    md5: Dict[str, str] = field(default_factory=dict)
    # Validation split carved from the training set: a fraction (< 1) or a count (>= 1).
    val_size: float = 0.1
    # Seed of the validation split, kept apart from the run seed so that every run of
    # a sweep is validated on the same images.
    split_seed: int = 0
    # Use only the first N (shuffled) training images; null = all of them.
    train_limit: Optional[int] = None
    scaling: Scaling = Scaling.unit
    # The training images' order within an epoch: shuffled (every epoch anew), stored (the files' order) or sorted
    # (by label); full-batch gradient descent reads them all at once, in any order.
    order: Order = Order.shuffled
    # Keep the decoded splits as .npy files in the cache folder, memory-mapped by every run.
    cache_arrays: bool = True
