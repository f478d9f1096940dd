"""The settings of one run, checked: every check of a value happens here, before any work.

:class:`RunSpec` is what everything below the run's entry point reads; nothing there
reads Hydra's config. Its ``fingerprint`` hashes every setting that can change the
result (all but :data:`nnexp.setting_kinds.EXECUTION_ONLY`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple

from nnexp.config import Config
from nnexp.data import DataConfig, Scaling, open_dataset, split_sizes
from nnexp.data.content import DataIdentity
from nnexp.data.dataset import Dataset, fixed_training_images
from nnexp.domains import (
    A_COUNT,
    A_NAME,
    A_NON_NEGATIVE_INT,
    A_PROBABILITY,
    FRACTION_OR_COUNT,
    NON_NEGATIVE,
    OPEN_FRACTION,
    POSITIVE,
    Allowed,
    at_least,
    check,
    invalid,
    is_int,
    noted,
    nullable,
)
from nnexp.errors import ConfigError, NnexpError
from nnexp.optim import OPTIMIZERS, SCHEDULES
from nnexp.setting_kinds import DATA_SOURCE, LATER_SETTINGS, is_execution_only
from nnexp.training.method import Method

# A full-batch step streams the training matrix twice and does 4·rows·784·units of first-layer arithmetic: with more
# first-layer units than this a run is compute-bound and a pack, which saves only the stream, does not pay. Measured
# on 2 cores (reports/bench/packs.md, grids of 12 full-batch 784-H-10 sigmoid runs, 100 epochs, packed against
# alone): 1.3x at 16 units, 1.1x at 32, 0.97x at 64 (784-64-1: 1.00x); 784-1 without hidden layers (pools) 6.6x.
# Only the first layer is stacked, so only its width counts: later layers cost a member the same packed or alone.
PACKED_FIRST_LAYER_UNITS = 16


class PackKey(NamedTuple):
    """What the runs of one pack share (:attr:`RunSpec.pack_key`)."""

    data: str  # the data settings
    content: str  # the data's content identity
    labels: tuple[str, int | None]  # the task, and its positive class
    dtype: str
    hidden: tuple[int, ...]
    activation: tuple[str, float] | None  # with hidden layers: their activation and leaky slope
    blas_threads: int | None
    pooled: bool  # its runs may differ in split seed and positive class: a pool (nnexp.data.pack_data)


@dataclass(frozen=True)
class RunSpec:
    """The checked settings of one run (see :class:`nnexp.config.Config` for their meaning)."""

    activation: str
    hidden: tuple[int, ...]
    epochs: int
    batch_size: int | None  # None: full batch
    init: str
    init_scale: float
    bias_init: str
    leaky_slope: float
    seed: int
    dtype: str
    blas_threads: int | None  # None: the launcher's cpus_per_task, else 1
    task: str
    positive_class: int
    loss: str
    output: str
    method: Method  # lr, optimizer, schedule, weight decay, dropout, early stopping (settings' defaults filled in)
    diagnostics: bool
    save_model: bool
    pack: bool  # may train with others (nnexp.sweep.packing), where pack_key allows it
    data: DataConfig
    # (training images before the validation split, features) from the files' headers; None before a download
    data_shape: tuple[int, int] | None
    data_identity: DataIdentity | None  # the data's content identity; None before a download
    fixed_images: (
        bool  # the training images do not depend on data.split_seed (nnexp.data.dataset.fixed_training_images)
    )
    config: dict[str, Any]  # the whole configuration, as plain values (recorded in summary.json)
    fingerprint: str

    @property
    def n_classes(self) -> int:
        """Classes of the task: 2 for one-vs-all, else the data set's."""
        return 2 if self.task == "one_vs_all" else self.data.n_classes

    @property
    def n_train(self) -> int | None:
        """Training images after the validation split and ``data.train_limit``; None before a download."""
        if self.data_shape is None:
            return None
        return split_sizes(self.data_shape[0], self.data.val_size, self.data.train_limit)[1]

    @property
    def pack_key(self) -> PackKey | None:
        """What the runs of one pack (:mod:`nnexp.model.pack`) share: the same data (settings, content, task and
        positive class), layer sizes, dtype, hidden activation and BLAS threads, and full-batch training, where
        every step reads the whole training split; without hidden layers (and dropout), data that differs only in
        its split seed and positive class too, where neither the images nor their features depend on the split
        (:func:`~nnexp.data.dataset.fixed_training_images`, ``data.scaling`` not standard): a pool
        (:mod:`nnexp.data.pack_data`). None for a run that trains alone (``pack=false``, mini-batches, a first
        hidden layer wider than :data:`PACKED_FIRST_LAYER_UNITS`, data not on this machine yet)."""
        if not self.pack or self.n_train is None or self.data_identity is None:
            return None
        if self.batch_size is not None and self.batch_size < self.n_train:
            return None
        if self.hidden and self.hidden[0] > PACKED_FIRST_LAYER_UNITS:
            return None
        # without hidden layers a run streams the training images for a few output columns: runs on other splits
        # and classes of them pack into a pool, where the split changes neither the images nor their features
        pooled = (
            not self.hidden
            and not self.method.dropout
            and self.fixed_images
            and Scaling(self.data.scaling) is not Scaling.standard
        )
        data = dataclasses.replace(self.data, split_seed=0) if pooled else self.data
        labels = (self.task, self.positive_class if self.task == "one_vs_all" and not pooled else None)
        activation = (self.activation, self.leaky_slope) if self.hidden else None
        return PackKey(
            repr(data),
            self.data_identity.digest,
            labels,
            self.dtype,
            self.hidden,
            activation,
            self.blas_threads,
            pooled,
        )

    @classmethod
    def from_settings(cls, settings: Config) -> RunSpec:
        """Check every value of ``settings`` (against the data files' headers where they are on this machine).

        Raises :class:`ConfigError` with one line naming the key, the value and what is allowed.
        """
        check_values(settings)
        record = config_record(settings)
        dataset = open_dataset(settings.data)  # opened once: its headers and its content identity
        data_shape, identity = dataset.training_shape(), identity_of(dataset)
        spec = cls(
            activation=settings.activation.value,
            hidden=hidden_sizes(settings.hidden),
            epochs=int(settings.epochs),
            batch_size=batch_rows(settings.batch_size),
            init=settings.init.value,
            init_scale=float(settings.init_scale),
            bias_init=settings.bias_init.value,
            leaky_slope=float(settings.leaky_slope),
            seed=int(settings.seed),
            dtype=settings.dtype.value,
            blas_threads=settings.blas_threads,
            task=settings.task.value,
            positive_class=int(settings.positive_class),
            loss=settings.loss.value,
            output=settings.output.value,
            method=method_of(settings, record),
            diagnostics=bool(settings.diagnostics),
            save_model=bool(settings.save_model),
            pack=bool(settings.pack),
            data=settings.data,
            data_shape=data_shape,
            data_identity=identity,
            fixed_images=fixed_training_images(dataset),
            config=record,
            fingerprint=fingerprint(record, identity),
        )
        if spec.n_train is not None:
            check_batch_fits(spec, spec.n_train)
        return spec


def method_of(settings: Config, record: dict[str, Any] | None = None) -> Method:
    """The training method of checked ``settings`` (its :func:`config_record`, if computed already): the optimizer's
    and the schedule's settings left null take their defaults."""
    record = config_record(settings) if record is None else record
    optimizer, schedule = record["optimizer"], record["lr_schedule"]
    return Method(
        lr=float(settings.lr),
        optimizer=optimizer["name"],
        optimizer_settings={key: optimizer[key] for key in OPTIMIZERS[optimizer["name"]].SETTINGS},
        lr_schedule=schedule["name"],
        schedule_settings={key: schedule[key] for key in SCHEDULES[schedule["name"]].settings},
        weight_decay=float(settings.weight_decay),
        dropout=float(settings.dropout),
        patience=int(settings.early_stopping.patience),
        stop_metric=settings.early_stopping.metric.value,
        min_delta=float(settings.early_stopping.min_delta),
        grad_reduction=settings.grad_reduction.value,
        output_grad=settings.output_grad.value,
    )


def data_identity(cfg: DataConfig) -> DataIdentity | None:
    """The content identity of the data ``cfg`` names; None when its files cannot be read (the run's own
    checks then say why)."""
    try:
        dataset = open_dataset(cfg)
    except (NnexpError, OSError):
        return None
    return identity_of(dataset)


def identity_of(dataset: Dataset) -> DataIdentity | None:
    """The content identity of an opened data set; None when its files cannot be read."""
    try:
        return dataset.identity()
    except (NnexpError, OSError):
        return None


def _plain(value: Any) -> Any:
    """Dataclasses, enums and tuples as JSON's dicts, strings and lists."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def config_record(settings: Config) -> dict[str, Any]:
    """The configuration as plain values, as summary.json records it: the optimizer's and the schedule's
    settings left null are filled in with their defaults (so an explicit default is the same configuration)."""
    record = _plain(dataclasses.asdict(settings))
    for group, defaults in (
        ("optimizer", OPTIMIZERS[record["optimizer"]["name"]].SETTINGS),
        ("lr_schedule", SCHEDULES[record["lr_schedule"]["name"]].settings),
    ):
        record[group] |= {key: value for key, value in defaults.items() if record[group][key] is None}
    return record


def result_settings(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``node`` without the execution-only settings (and without sections they leave empty)."""
    kept = {}
    for key, value in node.items():
        name = f"{prefix}{key}"
        if is_execution_only(name):
            continue
        if isinstance(value, dict):
            value = result_settings(value, f"{name}.")
            if not value:
                continue
        kept[key] = value
    return kept


# what the numbers of a run's metrics.csv mean, hashed into every fingerprint so that runs of two meanings are never
# mixed: 2, the training split's metrics taken from the training pass (nnexp.training.loop); 1, from a pass of their own
METRICS_DEFINITION = 2


def fingerprint(record: dict[str, Any], data: DataIdentity | None) -> str:
    """A hash of every setting in ``record`` that can change the run's result, of the data's content and of
    :data:`METRICS_DEFINITION`.

    With the data's identity known, where its files are (:data:`nnexp.setting_kinds.DATA_SOURCE`) does not count:
    another spelling of the same folder, or a copy of the same files, is the same configuration, and files
    replaced under the same folder are another.
    """
    settings = result_settings(record) | {"metrics_definition": METRICS_DEFINITION}
    for key, value in LATER_SETTINGS.items():
        *path, name = key.split(".")
        node = functools.reduce(lambda node, part: node[part], path, settings)
        if node.get(name) == value:
            del node[name]
    if data is not None:
        settings["data"] = {key: value for key, value in settings["data"].items() if f"data.{key}" not in DATA_SOURCE}
        settings["data_content"] = data.digest
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def hidden_sizes(value: Any) -> tuple[int, ...]:
    """The hidden layers' sizes of the setting ``hidden`` (an int or a list of ints); one line if invalid."""
    sizes = list(value) if isinstance(value, (list, tuple)) else [value]
    if not all(is_int(s) and s >= 1 for s in sizes):
        raise invalid(
            "hidden",
            value,
            "a positive int or a list of positive ints, e.g. hidden=128 or hidden=[128,64] ([] for no hidden layer)",
        )
    return tuple(sizes)


def batch_rows(value: Any) -> int | None:
    """The rows of a mini-batch of the setting ``batch_size`` (None: full batch); one line if invalid."""
    if value == "full":
        return None
    if is_int(value) and value >= 1:
        return value
    raise invalid("batch_size", value, "an int >= 1 (1 = pure SGD) or 'full'")


# The domain of every setting of Config that is a number, by its dotted key. The others: enums and booleans have
# their type (Hydra refuses the rest); hidden, batch_size, positive_class (below data.n_classes) and the
# optimizer's and schedule's settings (their ALLOWED) are checked by check_values; data.loader names a reader;
# the data's folders, files, mirrors and checksums are checked when they are read; preset is a label.
DOMAINS: dict[str, Allowed] = {
    "lr": POSITIVE,
    "epochs": A_COUNT,
    "init_scale": POSITIVE,
    "leaky_slope": OPEN_FRACTION,
    "blas_threads": nullable(A_COUNT, "the launcher's cpus_per_task"),
    "seed": A_NON_NEGATIVE_INT,
    "weight_decay": noted(NON_NEGATIVE, "0: off"),
    "dropout": noted(A_PROBABILITY, "0: off"),
    "early_stopping.patience": noted(A_NON_NEGATIVE_INT, "0: off"),
    "early_stopping.min_delta": NON_NEGATIVE,
    "data.name": A_NAME,  # the data set's cache folder
    "data.n_classes": at_least(2),
    "data.val_size": FRACTION_OR_COUNT,  # a count within the data: split_sizes, once its size is known
    "data.split_seed": A_NON_NEGATIVE_INT,
    "data.train_limit": nullable(A_COUNT),  # within the data: split_sizes
}


def setting(cfg: Config, key: str) -> Any:
    """The value of the dotted ``key`` in ``cfg`` (through settings and mappings: ``data.files.train_images``)."""
    return functools.reduce(
        lambda node, part: node[part] if isinstance(node, dict) else getattr(node, part), key.split("."), cfg
    )


def check_values(cfg: Config) -> None:
    """The checks of single values (:data:`DOMAINS`) and of values against each other (no files read)."""
    for key, allowed in DOMAINS.items():
        check(key, setting(cfg, key), allowed)
    for role, name in cfg.data.files.items():  # files of data.root or of the download folder, by name
        check(f"data.files.{role}", name, A_NAME)
    classes = cfg.data.n_classes
    if not 0 <= cfg.positive_class < classes:
        raise invalid("positive_class", cfg.positive_class, f"a class from 0 to {classes - 1}")
    hidden_sizes(cfg.hidden)
    batch_rows(cfg.batch_size)
    _check_method(cfg)


def _foreign_settings(group: str, node: Any, own: Iterable[str], owners: dict[str, list[str]]) -> None:
    """A setting given (not null) that the chosen optimizer or schedule does not take."""
    for key, owned_by in owners.items():
        value = getattr(node, key)
        if value is not None and key not in own:
            takes = ", ".join(f"{group}.{k}" for k in own) or "no settings"
            chosen = f"{group}={node.name.value}"
            raise ConfigError(f"{group}.{key}={value} belongs to {group}={'/'.join(owned_by)}; {chosen} takes {takes}")


def _check_method(cfg: Config) -> None:
    """The training method: optimizer, schedule, regularisation, outputs, early stopping."""
    if cfg.task.value == "one_vs_all":
        if cfg.output.value != "softmax":
            raise invalid("output", cfg.output.value, "softmax (task=one_vs_all has one sigmoid unit)")
    elif cfg.loss.value == "mse" and cfg.output.value != "sigmoid":
        raise invalid("loss", "mse", "cross_entropy with output=softmax (mse needs output=sigmoid)")
    if cfg.output_grad.value == "printed" and (cfg.loss.value != "cross_entropy" or not hidden_sizes(cfg.hidden)):
        raise ConfigError(
            "output_grad=printed is write-up 000's output layer, after a hidden layer, with loss=cross_entropy;"
            f" this run has hidden={cfg.hidden}, loss={cfg.loss.value} (allowed: output_grad=exact)"
        )

    optimizer = cfg.optimizer
    own = OPTIMIZERS[optimizer.name.value].SETTINGS
    owners = {
        key: [n for n, c in OPTIMIZERS.items() if key in c.SETTINGS] for c in OPTIMIZERS.values() for key in c.SETTINGS
    }
    _foreign_settings("optimizer", optimizer, own, owners)
    for key, allowed in OPTIMIZERS[optimizer.name.value].ALLOWED.items():
        if getattr(optimizer, key) is not None:  # null: the optimizer's default
            check(f"optimizer.{key}", getattr(optimizer, key), allowed)

    schedule = cfg.lr_schedule
    kind = SCHEDULES[schedule.name.value]
    owners = {
        key: [n for n, s in SCHEDULES.items() if key in s.settings] for s in SCHEDULES.values() for key in s.settings
    }
    _foreign_settings("lr_schedule", schedule, kind.settings, owners)
    for key, allowed in kind.allowed.items():
        if getattr(schedule, key) is not None:  # null: the schedule's default
            check(f"lr_schedule.{key}", getattr(schedule, key), allowed)
    if schedule.eta_min is not None and not schedule.eta_min < cfg.lr:
        raise invalid("lr_schedule.eta_min", schedule.eta_min, f"a number >= 0 below lr={cfg.lr}")


def check_batch_fits(spec: RunSpec, n_train: int) -> None:
    """A mini-batch may not be larger than the training set (named by ``data.train_limit`` when that capped it)."""
    if spec.batch_size is not None and spec.batch_size > n_train:
        limit = spec.data.train_limit
        source = (
            f"with data.train_limit={limit}"
            if limit is not None and n_train == limit
            else f"after the validation split, data.val_size={spec.data.val_size}"
        )
        raise ConfigError(
            f"batch_size={spec.batch_size} is larger than the training set ({n_train} images {source});"
            f" allowed: 1 to {n_train}, or 'full'"
        )
