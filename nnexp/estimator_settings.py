"""The parameters of :class:`nnexp.estimator.MLPClassifier` as a run's settings, checked by the run's own checks.

Each parameter is a run setting (:class:`nnexp.config.Config`): composed onto the config schema as Hydra composes the
command line (the same type errors), then checked by :func:`nnexp.training.spec.check_values` (the same one-line
:class:`~nnexp.errors.ConfigError`, naming the setting: ``early_stopping.patience`` for ``patience``,
``optimizer.beta1`` for ``beta1``, ``data.val_size`` for ``val_size``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from nnexp.config import Config
from nnexp.domains import FRACTION_OR_COUNT
from nnexp.errors import ConfigError
from nnexp.optim import OPTIMIZERS, SCHEDULES
from nnexp.training.method import Method
from nnexp.training.spec import batch_rows, check_values, hidden_sizes, method_of

# The settings of every optimizer and of every schedule, each one parameter (the config's sections hold the same
# union: a setting the chosen optimizer or schedule does not take must stay None)
OPTIMIZER_SETTINGS = tuple(dict.fromkeys(key for kind in OPTIMIZERS.values() for key in kind.SETTINGS))
SCHEDULE_SETTINGS = tuple(dict.fromkeys(key for kind in SCHEDULES.values() for key in kind.settings))
# The parameters under another name in the config (the early-stopping ones are named as in Method)
EARLY_STOPPING = {"patience": "patience", "stop_metric": "metric", "min_delta": "min_delta"}
# The parameters that are top-level run settings of the same name
RUN_SETTINGS = (
    "hidden",
    "activation",
    "init",
    "init_scale",
    "bias_init",
    "leaky_slope",
    "output",
    "loss",
    "epochs",
    "batch_size",
    "weight_decay",
    "dropout",
    "dtype",
    "blas_threads",
    "diagnostics",
)


@dataclass(frozen=True)
class Training:
    """What a fit takes from the parameters, checked: the network, the method, the split and the generators."""

    hidden: tuple[int, ...]
    activation: str
    init: str
    init_scale: float
    bias_init: str
    leaky_slope: float
    output: str
    loss: str
    dtype: str
    epochs: int
    batch_size: int | None  # None: full batch
    method: Method
    seed: int | None  # None: fresh entropy every fit
    val_size: float | None  # None: no validation split
    split_seed: int
    blas_threads: int
    diagnostics: bool


def _plain(value: Any) -> Any:
    """NumPy scalars and arrays (a grid search's values) as Python's, which the config takes."""
    return np.asarray(value).tolist() if isinstance(value, (np.generic, np.ndarray)) else value


def run_settings(params: dict[str, Any], n_classes: int) -> Config:
    """The run settings of the estimator's ``params`` (:meth:`get_params`) for a task of ``n_classes`` classes,
    checked: :class:`ConfigError` (one line) for a value nnexp's command line would refuse. Two classes are
    ``task=one_vs_all``: one sigmoid unit, for which ``output`` is moot (its check would refuse ``sigmoid``).

    ``lr`` None is the chosen optimizer's rate (``optimizer=adam`` sets 0.001) or the schema's 0.1; ``random_state``
    None and ``val_size`` None leave ``seed`` and ``data.val_size`` at their defaults (unused).
    """
    given = {key: _plain(value) for key, value in params.items()}
    settings = {key: given[key] for key in RUN_SETTINGS}
    settings["optimizer"] = {"name": given["optimizer"]} | {key: given[key] for key in OPTIMIZER_SETTINGS}
    settings["lr_schedule"] = {"name": given["lr_schedule"]} | {key: given[key] for key in SCHEDULE_SETTINGS}
    settings["early_stopping"] = {setting: given[key] for key, setting in EARLY_STOPPING.items()}
    settings["data"] = {"split_seed": given["split_seed"]}
    for key, value in (("lr", given["lr"]), ("seed", given["random_state"])):
        if value is not None:
            settings[key] = value
    if given["val_size"] is not None:
        settings["data"]["val_size"] = given["val_size"]
    try:
        composed = OmegaConf.merge(OmegaConf.structured(Config), settings)
        if given["lr"] is None and OPTIMIZERS[composed.optimizer.name.value].LR is not None:
            composed.lr = OPTIMIZERS[composed.optimizer.name.value].LR
        if n_classes == 2:  # nnexp's binary task: one sigmoid unit, whatever output says (it was checked above)
            composed = OmegaConf.merge(composed, {"task": "one_vs_all", "output": "softmax"})
    except OmegaConfBaseException as exc:  # Hydra's own words for a value of the wrong type
        raise ConfigError(f"{exc.full_key}: {str(exc).splitlines()[0]}") from None
    config = OmegaConf.to_object(composed)
    check_values(config)
    return config


def checked(params: dict[str, Any], n_classes: int) -> Training:
    """The training of the estimator's ``params`` for ``n_classes`` classes, checked (:func:`run_settings`); early
    stopping needs a validation split."""
    config = run_settings(params, n_classes)
    method = method_of(config)
    if method.patience and params["val_size"] is None:
        raise ConfigError(
            f"early_stopping.patience={method.patience} watches a validation split, and val_size=None holds none out;"
            f" allowed: val_size {FRACTION_OR_COUNT[1]}, or patience=0 (no early stopping)"
        )
    return Training(
        hidden=hidden_sizes(config.hidden),
        activation=config.activation.value,
        init=config.init.value,
        init_scale=float(config.init_scale),
        bias_init=config.bias_init.value,
        leaky_slope=float(config.leaky_slope),
        output=config.output.value,
        loss=config.loss.value,
        dtype=config.dtype.value,
        epochs=int(config.epochs),
        batch_size=batch_rows(config.batch_size),
        method=method,
        seed=None if params["random_state"] is None else int(config.seed),
        val_size=None if params["val_size"] is None else float(config.data.val_size),
        split_seed=int(config.data.split_seed),
        blas_threads=config.blas_threads or 1,
        diagnostics=bool(config.diagnostics),
    )
