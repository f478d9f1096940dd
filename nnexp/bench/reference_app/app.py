"""One run of the reference app: an ``MLPClassifier`` trained on nnexp's training split, its test accuracy written
to ``test_acc.txt`` in the run's Hydra output folder.

Plain mini-batch SGD as nnexp's default run: constant learning rate, no momentum, no L2 penalty, no early stopping,
reshuffled every epoch, softmax cross-entropy (initial weights: scikit-learn's own, Glorot-style uniform); no
per-epoch curves, no report.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from nnexp.command_line import COMPOSE_OPTIONS
from nnexp.data import DataConfig, load_dataset

RESULT_FILE = "test_acc.txt"


def classifier(cfg: DictConfig) -> MLPClassifier:
    """The network of ``cfg``: one hidden layer of ``cfg.hidden`` units, trained for exactly ``cfg.epochs`` epochs."""
    return MLPClassifier(
        hidden_layer_sizes=(cfg.hidden,),
        activation=cfg.activation,
        solver="sgd",
        learning_rate="constant",
        learning_rate_init=cfg.lr,
        momentum=0.0,
        alpha=0.0,
        batch_size=cfg.batch_size,
        max_iter=cfg.epochs,
        shuffle=True,
        random_state=cfg.seed,
        early_stopping=False,
        n_iter_no_change=cfg.epochs,  # stops only after more epochs without progress than it trains: never
    )


def train(cfg: DictConfig, out_dir: Path) -> float:
    """Train one network on the training split (n_train, features), write its test accuracy into ``out_dir``;
    returns it."""
    splits = load_dataset(DataConfig(**cfg.data))
    model = classifier(cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter reached: the epochs asked for
        model.fit(splits.x_train, splits.y_train)
    accuracy = float(model.score(splits.x_test, splits.y_test))
    (out_dir / RESULT_FILE).write_text(f"{accuracy}\n")
    return accuracy


@hydra.main(config_path=".", config_name="config", **COMPOSE_OPTIONS)  # version_base on Hydra 1.3 and 1.4
def main(cfg: DictConfig) -> float:
    """Hydra task: one run in its output folder; returns its test accuracy."""
    return train(cfg, Path(HydraConfig.get().runtime.output_dir))
