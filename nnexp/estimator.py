"""nnexp's network as a scikit-learn classifier: :class:`MLPClassifier`, trained by nnexp's own trainer.

``fit`` is a run of ``python -m nnexp.run`` on the rows it is given: the same settings (parameters of the same names
and defaults, checked with the same one-line errors: :mod:`nnexp.estimator_settings`), the same seeding, the same
training loop (:func:`nnexp.training.loop.train`), so the same rows in the same order give the same weights to the
last bit. Nothing is scaled: nnexp's runs divide pixels by their maximum (``data.scaling=unit``), a pipeline does
what the data needs (the README's "In scikit-learn").
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from nnexp.data.splits import Preprocess, Splits, split_indices
from nnexp.estimator_settings import Training, checked
from nnexp.model.activations.sigmoid import sigmoid_
from nnexp.model.loss import SoftmaxCrossEntropy, n_outputs, softmax_
from nnexp.optim import make_optimizer
from nnexp.results import RunStatus
from nnexp.training.checkpoint import Checkpoint, Checkpointer
from nnexp.training.loop import TrainResult, train
from nnexp.training.method import Method
from nnexp.training.seeding import seeded_start
from nnexp.training.stopping import EarlyStopping

VALIDATION_COLUMNS = ("val_loss", "val_acc")
# the training loop evaluates a test split after every epoch; an estimator has none (score is the caller's), so a
# one-row stand-in is evaluated and these columns are not kept
TEST_COLUMNS = ("test_loss", "test_acc")
FLOATS = (np.float64, np.float32)  # inputs of these types are taken as they are, others as float64, until fit casts
PARTIAL_FIT = "partial_fit"  # the fingerprint of partial_fit's checkpoints (kept in memory, of no run folder)


def _classes(labels: np.ndarray, name: str) -> np.ndarray:
    """The classes ``labels`` (sorted, distinct), refused in one line unless there are 2 or more."""
    if len(labels) < 2:
        raise ValueError(f"{name} holds 1 class ({labels.tolist()}); allowed: labels of 2 or more classes")
    return labels


class _EpochDone(Exception):
    """The epoch a partial_fit call runs is done, its checkpoint held: training ends there."""


class _OneEpoch(Checkpointer):
    """Checkpoints held in memory that end training at the first one: the end of an epoch (the training loop saves
    one after every epoch but the last; what its save raises ends the run and comes out of ``train``). It holds
    where training stands, for the next partial_fit call to resume."""

    def __init__(self) -> None:
        super().__init__(Path(), PARTIAL_FIT)  # the path is never written: save keeps the checkpoint
        self.checkpoint: Checkpoint | None = None

    def due(self) -> bool:
        return False  # none within an epoch

    def save(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint
        raise _EpochDone


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """nnexp's multi-layer perceptron, trained by nnexp's trainer, as a scikit-learn classifier.

    Parameters are nnexp's run settings (``python -m nnexp.run --help``), with their names and defaults: ``hidden``
    (an int or a list of ints, one per hidden layer), ``activation``, ``init``, ``init_scale``, ``bias_init``,
    ``leaky_slope``, ``output`` (softmax, or one sigmoid per class; two classes have one sigmoid unit whatever it
    says, as ``task=one_vs_all``), ``loss``; ``optimizer`` and its settings (``momentum``, ``alpha``, ``beta1``,
    ``beta2``, ``eps``: None is the optimizer's default, and an optimizer takes its own only), ``lr`` (None: the
    optimizer's rate, as ``optimizer=adam`` sets 0.001, else 0.1), ``lr_schedule`` and its settings (``step_size``,
    ``gamma``, ``decay``, ``t_max``, ``eta_min``), ``epochs``, ``batch_size`` (an int or "full"; larger than the
    rows: full batch), ``weight_decay``, ``dropout``; early stopping ``patience`` (0: off), ``stop_metric``,
    ``min_delta`` (``early_stopping.*``); ``val_size`` and ``split_seed`` (``data.*``), ``random_state`` (``seed``;
    None: fresh entropy every fit), ``dtype``, ``blas_threads`` (None: 1, as a run outside SLURM) and
    ``diagnostics``. A bad value raises nnexp's :class:`~nnexp.errors.ConfigError` in ``fit``, naming the setting.

    Validation: ``val_size`` None (the default) trains on every row, as scikit-learn's estimators do; a fraction in
    (0, 1) or a count holds that part out by nnexp's seeded split (``split_seed``), for the per-epoch validation
    metrics and for early stopping, which needs it.

    Attributes after fitting: ``classes_``, ``n_features_in_``, ``model_`` (the :class:`~nnexp.model.MLP`),
    ``history_`` (a DataFrame, one row per epoch: the columns of a run's ``metrics.csv`` without the test split's),
    ``loss_curve_`` (the training loss per epoch), ``n_iter_`` (epochs run), ``kept_epoch_`` (whose weights the
    model holds: early stopping keeps the best), ``stop_reason_`` (None unless stopped early) and ``status_``
    (``completed``, or ``diverged``: a ConvergenceWarning says so).
    """

    def __init__(
        self,
        *,
        hidden: int | Sequence[int] = 128,
        activation: str = "sigmoid",
        init: str = "xavier",
        init_scale: float = 0.01,
        bias_init: str = "zeros",
        leaky_slope: float = 0.01,
        output: str = "softmax",
        loss: str = "cross_entropy",
        optimizer: str = "sgd",
        lr: float | None = None,
        momentum: float | None = None,
        alpha: float | None = None,
        beta1: float | None = None,
        beta2: float | None = None,
        eps: float | None = None,
        lr_schedule: str = "constant",
        step_size: int | None = None,
        gamma: float | None = None,
        decay: float | None = None,
        t_max: int | None = None,
        eta_min: float | None = None,
        epochs: int = 10,
        batch_size: int | str = 64,
        weight_decay: float = 0.0,
        dropout: float = 0.0,
        patience: int = 0,
        stop_metric: str = "val_loss",
        min_delta: float = 0.0,
        val_size: float | None = None,
        split_seed: int = 0,
        random_state: int | None = 0,
        dtype: str = "float32",
        blas_threads: int | None = None,
        diagnostics: bool = True,
    ) -> None:
        self.hidden = hidden
        self.activation = activation
        self.init = init
        self.init_scale = init_scale
        self.bias_init = bias_init
        self.leaky_slope = leaky_slope
        self.output = output
        self.loss = loss
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.alpha = alpha
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.lr_schedule = lr_schedule
        self.step_size = step_size
        self.gamma = gamma
        self.decay = decay
        self.t_max = t_max
        self.eta_min = eta_min
        self.epochs = epochs
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.patience = patience
        self.stop_metric = stop_metric
        self.min_delta = min_delta
        self.val_size = val_size
        self.split_seed = split_seed
        self.random_state = random_state
        self.dtype = dtype
        self.blas_threads = blas_threads
        self.diagnostics = diagnostics

    def fit(self, X: ArrayLike, y: ArrayLike) -> MLPClassifier:
        """Train a new network on ``X`` (n, features) and the labels ``y`` (n,), as a run with these settings:
        ``epochs`` epochs (fewer with early stopping), ``val_size`` of the rows held out if set."""
        X, y = validate_data(self, X, y, dtype=FLOATS)
        check_classification_targets(y)
        classes = _classes(unique_labels(y), "y")
        training = checked(self.get_params(), len(classes))
        self.classes_ = classes
        X, labels = X.astype(training.dtype, copy=False), self._labels(y)
        self._start(training, X.shape[1])
        if training.val_size is None:
            data = self._splits(X, labels)
        else:
            val, rows = split_indices(len(labels), training.val_size, None, training.split_seed)
            data = self._splits(X[rows], labels[rows], (X[val], labels[val]))
        rows, result = self._train(training, data, training.epochs, training.method)
        self._record(rows, result, validation=training.val_size is not None)
        return self

    def partial_fit(self, X: ArrayLike, y: ArrayLike, classes: ArrayLike | None = None) -> MLPClassifier:
        """One epoch on ``X`` (n, features), ``y`` (n,): every row, no validation split, no early stopping.

        ``classes`` (every label ``y`` may hold) is required on the first call, as scikit-learn's ``partial_fit``
        asks. The optimizer's state and the generators go on from the last call, so ``epochs`` calls on the same
        rows train as ``fit`` does without a validation split (an epoch beyond ``epochs`` takes the schedule's rate
        as if the run were planned that long). After ``fit``, training goes on from its weights with the optimizer's
        state afresh (``fit`` keeps none).
        """
        first = not hasattr(self, "model_")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        X, y = validate_data(self, X, y, reset=first, dtype=FLOATS if first else self.model_.dtype)
        check_classification_targets(y)
        if classes is not None:
            classes = _classes(unique_labels(classes), "classes")
            if not first and not np.array_equal(classes, self.classes_):
                raise ValueError(f"classes={classes.tolist()} is not the {self.classes_.tolist()} of the first call")
        training = checked(self.get_params(), len(self.classes_ if classes is None else classes))
        if first:
            self.classes_ = classes
            X = X.astype(training.dtype, copy=False)
            self._start(training, X.shape[1])
        labels = self._labels(y)
        method = replace(training.method, patience=0)
        schedule = dict(method.schedule_settings)
        if "t_max" in schedule and schedule["t_max"] is None:  # cosine over the planned epochs, not the calls so far
            method = replace(method, schedule_settings=schedule | {"t_max": training.epochs})
        resume = self._checkpoint or (self._resume_point(method) if self.n_iter_ else None)
        holder = _OneEpoch()
        epochs = max(training.epochs, self.n_iter_ + 2)  # the epoch run here is not the last: its checkpoint is saved
        rows, result = self._train(training, self._splits(X, labels), epochs, method, holder, resume)
        self._checkpoint = holder.checkpoint
        self._record(rows, result, validation=False)
        return self

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The class (n,) of every row of ``X`` (n, features), an element of ``classes_``."""
        x = self._inputs(X)
        return self.classes_[self.model_.predict(x)]

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities (n, classes) in the order of ``classes_``, in float64: the softmax of the outputs;
        with sigmoid units each unit's sigmoid, normalised to sum to 1 (two classes: 1 - p and p)."""
        x = self._inputs(X)
        logits = self.model_.logits(x).astype(np.float64)
        if isinstance(self.model_.output, SoftmaxCrossEntropy):
            softmax_(logits)
            return logits
        sigmoid_(logits)
        if logits.shape[1] == 1:
            return np.hstack([1.0 - logits, logits])
        return logits / logits.sum(axis=1, keepdims=True)

    def _inputs(self, X: ArrayLike) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=self.model_.dtype)

    def _labels(self, y: np.ndarray) -> np.ndarray:
        """The class indices (n,) of the labels ``y``: their places in ``classes_``."""
        unknown = np.setdiff1d(y, self.classes_)
        if len(unknown):
            raise ValueError(f"y holds labels {unknown.tolist()} not in classes_; allowed: {self.classes_.tolist()}")
        return np.searchsorted(self.classes_, y)

    def _start(self, training: Training, n_features: int) -> None:
        """A new network for ``n_features`` inputs and the generators, seeded as a run seeds them."""
        self.model_, self._shuffle_rng, self._dropout_rng = seeded_start(
            training, n_features, n_outputs(len(self.classes_))
        )
        self._checkpoint: Checkpoint | None = None  # where partial_fit left training
        self.history_ = pd.DataFrame()
        self.n_iter_ = 0

    def _splits(self, x: np.ndarray, labels: np.ndarray, validation: tuple | None = None) -> Splits:
        """The splits the training loop takes: training rows ``x`` (n, features), ``labels`` (n,), and the validation
        rows if any; one-row stand-ins for the splits it evaluates that are not there (their columns are dropped)."""
        stand_in = (x[:1], labels[:1])
        (x_val, y_val), (x_test, y_test) = validation or stand_in, stand_in
        return Splits(
            name="fit",
            x_train=x,
            y_train=labels,
            x_val=x_val,
            y_val=y_val,
            x_test=x_test,
            y_test=y_test,
            preprocess=Preprocess(pixel_max=1.0),  # none: the rows are the features
            n_classes=len(self.classes_),
        )

    def _train(
        self,
        training: Training,
        data: Splits,
        epochs: int,
        method: Method,
        checkpoints: Checkpointer | None = None,
        resume: Checkpoint | None = None,
    ) -> tuple[list[dict], TrainResult | None]:
        """The rows of the epochs trained by :func:`~nnexp.training.loop.train` on BLAS threads as a run's, and how
        training ended (None: at the end of partial_fit's epoch)."""
        rows: list[dict] = []
        with threadpool_limits(limits=training.blas_threads, user_api="blas"):
            try:
                result = train(
                    self.model_,
                    data,
                    epochs=epochs,
                    batch_size=training.batch_size,
                    method=method,
                    rng=self._shuffle_rng,
                    dropout_rng=self._dropout_rng,
                    on_epoch=rows.append,
                    diagnostics=training.diagnostics,
                    checkpoints=checkpoints,
                    resume=resume,
                )
            except _EpochDone:
                result = None
        return rows, result

    def _resume_point(self, method: Method) -> Checkpoint:
        """Where partial_fit goes on from when no call of its own left a checkpoint (after ``fit``, or a diverged
        epoch): the model's weights and generators, the epochs done; the optimizer's state afresh."""
        params = self.model_.params
        return Checkpoint(
            fingerprint=PARTIAL_FIT,
            epoch=self.n_iter_,
            batch=0,
            params=params,
            pass_logits=None,
            optimizer=make_optimizer(method.optimizer, params, dict(method.optimizer_settings)).state(),
            shuffle_state=self._shuffle_rng.bit_generator.state,
            dropout_state=self._dropout_rng.bit_generator.state,
            stopping=EarlyStopping(0, method.stop_metric, method.min_delta).state(),
            train_seconds=0.0,
            eval_seconds=0.0,
        )

    def _record(self, rows: list[dict], result: TrainResult | None, validation: bool) -> None:
        """Add the epochs' ``rows`` to the history (the stand-ins' columns left out) and say how training ended."""
        unmeasured = TEST_COLUMNS if validation else TEST_COLUMNS + VALIDATION_COLUMNS
        epochs = [*self.history_.to_dict("records"), *rows]
        self.history_ = pd.DataFrame(epochs).drop(columns=list(unmeasured), errors="ignore")
        self.loss_curve_ = self.history_["train_loss"].tolist()
        self.n_iter_ = len(self.history_)
        self.status_ = result.status.value if result else RunStatus.completed.value
        self.kept_epoch_ = result.kept_epoch if result else self.n_iter_
        self.stop_reason_ = result.stop_reason if result else None
        if self.status_ == RunStatus.diverged:
            warnings.warn(
                f"training diverged at epoch {self.n_iter_}: a loss is not finite, the predictions mean nothing"
                " (a smaller lr may help)",
                ConvergenceWarning,
                stacklevel=3,
            )
