"""Structured (dataclass) schema of the run configuration.

Hydra merges ``conf/`` onto this schema, so a mistyped key or a value of the
wrong type fails at start-up with Hydra's own message. Values whose validity
depends on other values (e.g. ``hidden`` sizes) are checked by
:mod:`nnexp.training.spec` before any data is loaded. The allowed values of
``activation``, ``init`` and ``loss`` come from the registries of :mod:`nnexp.model`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass
from enum import Enum
from typing import Any, Iterable, List, Optional

from hydra.core.config_store import ConfigStore

from nnexp.data.settings import DataConfig, Scaling  # noqa: F401  (Scaling: part of the schema)
from nnexp.model.activations import ACTIVATIONS
from nnexp.model.init import BIAS_INITS, INIT_SCHEMES
from nnexp.model.loss import LOSSES, OUTPUTS
from nnexp.optim import OPTIMIZERS, SCHEDULES


def _choices(name: str, values: Iterable[str], doc: str) -> type[Enum]:
    """A config enum whose members are ``values``: the registry of a stage decides what the config allows."""
    choices = Enum(name, [(value, value) for value in values], module=__name__)
    choices.__doc__ = doc
    return choices


Activation = _choices("Activation", ACTIVATIONS, "Hidden-layer activation functions (nnexp.model.activations).")
Init = _choices("Init", INIT_SCHEMES, "Weight initialisation schemes (nnexp.model.init).")
BiasInit = _choices("BiasInit", BIAS_INITS, "How biases start: 0, or drawn as their weights (nnexp.model.init).")
Loss = _choices("Loss", LOSSES, "Training loss (nnexp.model.loss).")
Output = _choices("Output", OUTPUTS, "Output units of the multi-class task (nnexp.model.loss).")
OptimizerName = _choices("OptimizerName", OPTIMIZERS, "Optimizers (nnexp.optim).")
ScheduleName = _choices("ScheduleName", SCHEDULES, "Learning-rate schedules (nnexp.optim.schedules).")


class Task(Enum):
    """What is predicted: the class, or whether it is ``positive_class`` (2 classes)."""

    multiclass = "multiclass"
    one_vs_all = "one_vs_all"


class GradReduction(Enum):
    """How a batch's per-sample gradients make the step's: their mean (the gradient of the mean loss), or their sum
    (batch size times it: write-up 000's "dJ/dz = y_hat - y" read per batch, without the 1/m)."""

    mean = "mean"
    sum = "sum"


class OutputGrad(Enum):
    """The output layer's weight gradient: ``exact`` (y_hat - y) a_j, a_j the layer's input, or ``printed``,
    write-up 000's as printed, (y_hat - y) z_k: the output's own weighted sum z_k, the same for every input j."""

    exact = "exact"
    printed = "printed"


class DType(Enum):
    """Floating-point precision of parameters and activations."""

    float32 = "float32"
    float64 = "float64"


@dataclass
class ReportConfig:
    """Layout of the comparison tables built at the end of a sweep."""

    enabled: bool = True
    # The report goes to <dir>/<sweep folder name>; null: into the sweep folder, as <sweep folder>/report.
    dir: Optional[str] = None
    rows: str = "hidden"
    cols: str = "activation"
    metrics: List[str] = field(default_factory=lambda: ["test_acc", "train_seconds"])
    # Published reference tables (experiments/*.csv) to compare the runs with.
    published: List[str] = field(default_factory=list)


def _optimizer_config() -> type:
    """The optimizer's node: ``name`` (``optimizer=<name>``, a config group) and every registered optimizer's
    settings, each null by default (the optimizer's own default; each takes its own only)."""
    settings = dict.fromkeys(key for optimizer in OPTIMIZERS.values() for key in optimizer.SETTINGS)
    node = make_dataclass(
        "OptimizerConfig",
        [("name", OptimizerName, field(default=OptimizerName.sgd))]
        + [(key, Optional[float], field(default=None)) for key in settings],
    )
    node.__module__ = __name__
    node.__doc__ = "The optimizer and its settings (nnexp.optim: SETTINGS of each optimizer); null: its default."
    return node


OptimizerConfig = _optimizer_config()


def _schedule_config() -> type:
    """The schedule's node: ``name`` (``lr_schedule=<name>``, a config group) and every registered schedule's
    settings, each null by default (the schedule's own default; each takes its own only)."""
    types = {key: kind for schedule in SCHEDULES.values() for key, kind in schedule.types.items()}
    node = make_dataclass(
        "ScheduleConfig",
        [("name", ScheduleName, field(default=ScheduleName.constant))]
        + [(key, Optional[kind], field(default=None)) for key, kind in types.items()],
    )
    node.__module__ = __name__
    node.__doc__ = (
        "The learning-rate schedule (nnexp.optim.schedules), applied per epoch, and its settings; null: its default."
    )
    return node


ScheduleConfig = _schedule_config()


class StopMetric(Enum):
    """What early stopping watches."""

    val_loss = "val_loss"
    val_acc = "val_acc"


@dataclass
class EarlyStoppingConfig:
    """Stop when ``metric`` has not improved by more than ``min_delta`` for ``patience`` epochs (0: never),
    and keep the weights of its best epoch."""

    patience: int = 0
    metric: StopMetric = StopMetric.val_loss
    min_delta: float = 0.0


class TrackerName(Enum):
    """Where every run is also logged as it trains (nnexp.tracking): nowhere, TensorBoard or MLflow."""

    none = "none"
    tensorboard = "tensorboard"
    mlflow = "mlflow"


@dataclass
class TrackerConfig:
    """The experiment tracker (``tracker=<name>``, a config group) and where it logs; null: under the sweep's folder
    (a single run's: its own folder)."""

    name: TrackerName = TrackerName.none
    # tensorboard: the folder of the event files, a subfolder per run; null: <sweep folder>/tensorboard
    dir: Optional[str] = None
    # mlflow: the tracking URI (sqlite:///..., http://...); null: sqlite:///<sweep folder>/mlflow/mlflow.db
    uri: Optional[str] = None
    # mlflow: the experiment's name; null: the sweep folder's name
    experiment: Optional[str] = None


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
    # zeros: biases start at 0; like_weights: each layer's biases are drawn as its weights are (init, init_scale).
    bias_init: BiasInit = BiasInit.zeros
    # Output units of task=multiclass: softmax, or one sigmoid unit per class (task=one_vs_all: one sigmoid).
    output: Output = Output.softmax
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    lr_schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    # How a batch's per-sample gradients combine: mean (the mean loss's gradient) or sum (batch size times it).
    grad_reduction: GradReduction = GradReduction.mean
    # The output layer's weight gradient: exact, or printed (write-up 000's (y_hat - y) z_k; needs a hidden layer).
    output_grad: OutputGrad = OutputGrad.exact
    # L2 penalty weight_decay / 2 * sum of squared weights (not biases), part of the reported loss; 0: off.
    weight_decay: float = 0.0
    # Inverted dropout on the hidden layers' outputs while training: the probability of dropping a unit.
    dropout: float = 0.0
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    leaky_slope: float = 0.01
    seed: int = 0
    dtype: DType = DType.float32
    # BLAS threads per run, whatever the environment says; null: the launcher's cpus_per_task
    # when it has one (SLURM, submitit), else 1.
    blas_threads: Optional[int] = None
    # Rerun runs that finished already (a sweep into an existing folder skips them otherwise).
    force: bool = False
    # A sweep's folder is named by its command, so the same command continues it (resumes, skips what finished);
    # fresh=true sweeps into a new folder, named with the time.
    fresh: bool = False
    # Per-epoch lines on the console too; they always go to the run's log file (<run folder>/run.log).
    verbose: bool = False
    # Train the full-batch runs of a grid sweep that read the same data and have the same layer sizes together,
    # as one stacked model, where it pays: no hidden layer, or a first one of at most 16 units (a pack:
    # docs/packs.md; 1.1x at 32 units, none at 64); each run keeps its own files. false: every run alone.
    pack: bool = True
    # Record per-layer saturation, dead units and weight/gradient norms every epoch.
    diagnostics: bool = True
    # Save the final weights (model.npz) for `python -m nnexp.predict`.
    save_model: bool = False
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    report: ReportConfig = field(default_factory=ReportConfig)


def store_schema() -> None:
    """Register the schema as ``nnexp_schema``, which ``conf/config.yaml`` extends, the config group
    ``optimizer=<name>`` of every registered optimizer (its name, and the learning rate it sets, if any) and
    ``lr_schedule=<name>`` of every registered schedule."""
    store = ConfigStore.instance()
    store.store(name="nnexp_schema", node=Config)
    for name, optimizer in OPTIMIZERS.items():
        lr = {} if optimizer.LR is None else {"lr": optimizer.LR}
        store.store(group="optimizer", name=name, node={"optimizer": {"name": name}, **lr}, package="_global_")
    for name in SCHEDULES:
        store.store(group="lr_schedule", name=name, node={"name": name})
