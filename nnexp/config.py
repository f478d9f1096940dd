"""Structured (dataclass) schema of the run configuration.

Hydra merges ``conf/`` onto this schema, so a mistyped key or a value of the
wrong type fails at start-up with Hydra's own message. Values whose validity
depends on other values (e.g. ``hidden`` sizes) are checked by
:mod:`nnexp.validation` before any data is loaded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional
from urllib.parse import quote

from hydra.core.config_store import ConfigStore
from hydra_plugins.nnexp_launcher import register as register_launcher
from omegaconf import OmegaConf


class Activation(Enum):
    """Hidden-layer activation functions."""

    sigmoid = "sigmoid"
    tanh = "tanh"
    relu = "relu"
    leaky_relu = "leaky_relu"


class Init(Enum):
    """Weight initialisation schemes (biases always start at zero)."""

    normal = "normal"  # N(0, init_scale^2): the write-ups' "small random numbers"
    xavier = "xavier"  # Glorot & Bengio (2010), uniform
    he = "he"  # He et al. (2015), normal


class Task(Enum):
    """What is predicted: the digit (10 classes), or whether it is ``positive_class`` (2 classes)."""

    multiclass = "multiclass"
    one_vs_all = "one_vs_all"


class Loss(Enum):
    """Training loss: cross-entropy (softmax or sigmoid output) or squared error (binary tasks)."""

    cross_entropy = "cross_entropy"
    mse = "mse"


class Scaling(Enum):
    """Input preprocessing: pixels / max (to [0, 1]), raw pixel values, or standardised per pixel."""

    unit = "unit"
    raw = "raw"
    standard = "standard"


class DType(Enum):
    """Floating-point precision of parameters and activations."""

    float32 = "float32"
    float64 = "float64"


IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


@dataclass
class DataConfig:
    """Which data set to use, where its files come from, and how it is split."""

    name: str = "mnist"
    # A folder that already holds the four IDX files (no checksum: local files are trusted).
    root: Optional[str] = None
    # Where downloads are cached; default: the OS cache folder (pooch.os_cache("nnexp")).
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
    # Keep the decoded splits as .npy files in the cache folder, memory-mapped by every run.
    cache_arrays: bool = True


@dataclass
class ReportConfig:
    """Layout of the comparison tables built at the end of a sweep."""

    enabled: bool = True
    dir: str = "reports"
    rows: str = "hidden"
    cols: str = "activation"
    metrics: List[str] = field(default_factory=lambda: ["test_acc", "train_seconds"])
    # Published reference tables (experiments/*.csv) to compare the runs with.
    published: List[str] = field(default_factory=list)


@dataclass
class Config:
    """One training run. Sweeps are grids over these keys."""

    # Name of the preset (conf/experiment/, selected with +experiment=NAME) that set this run up.
    preset: Optional[str] = None
    task: Task = Task.multiclass
    positive_class: int = 0
    loss: Loss = Loss.cross_entropy
    activation: Activation = Activation.sigmoid
    # One int (one hidden layer) or a list of ints (one per hidden layer, [] for none).
    hidden: Any = 128
    lr: float = 0.1
    epochs: int = 10
    # An int >= 1 (1 = pure SGD) or "full" (full-batch gradient descent).
    batch_size: Any = 64
    init: Init = Init.xavier
    init_scale: float = 0.01
    leaky_slope: float = 0.01
    seed: int = 0
    dtype: DType = DType.float32
    # BLAS threads per run, whatever the environment says; null: the launcher's cpus_per_task
    # when it has one (SLURM, submitit), else 1.
    blas_threads: Optional[int] = None
    # Rerun runs that finished already (a sweep into an existing folder skips them otherwise).
    force: bool = False
    # Record per-layer saturation, dead units and weight/gradient norms every epoch.
    diagnostics: bool = True
    # Save the final weights (model.npz) for `python -m nnexp.predict`.
    save_model: bool = False
    data: DataConfig = field(default_factory=DataConfig)
    report: ReportConfig = field(default_factory=ReportConfig)


MAX_DIR_NAME = 200


def run_dir_name(override_dirname: str) -> str:
    """A run folder name from Hydra's ``key=value,...`` overrides string, one per configuration.

    Path separators and other unsafe characters are percent-encoded (so the mapping
    stays one-to-one and a value can never create subfolders); very long names are
    shortened with a hash of the full string.
    """
    name = quote(override_dirname, safe="=,.+-_[]:@") or "defaults"
    if len(name) > MAX_DIR_NAME:
        name = f"{name[: MAX_DIR_NAME - 18]}...{hashlib.sha1(name.encode()).hexdigest()[:15]}"
    return name


def register_configs() -> None:
    """Register the schema (extended by ``conf/config.yaml``), the run-folder name resolver and the launcher."""
    ConfigStore.instance().store(name="nnexp_schema", node=Config)
    register_launcher()
    OmegaConf.register_new_resolver("nnexp_dirname", run_dir_name, replace=True)
