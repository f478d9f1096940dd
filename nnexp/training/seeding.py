"""A run's network and random streams, from its seed: one home for how a run is seeded (the job, the estimator)."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from nnexp.model import MLP


class NetworkSettings(Protocol):
    """The settings a run's network is built from (a :class:`~nnexp.training.spec.RunSpec` has them)."""

    seed: int | None
    hidden: tuple[int, ...]
    activation: str
    init: str
    init_scale: float
    bias_init: str
    leaky_slope: float
    loss: str
    output: str
    dtype: str


def seeded_start(
    settings: NetworkSettings, n_inputs: int, n_outputs: int
) -> tuple[MLP, np.random.Generator, np.random.Generator]:
    """The network of ``settings`` for ``n_inputs`` and ``n_outputs`` units, initialised from the first of the three
    streams ``SeedSequence(seed).spawn(3)`` gives, and the other two: the training set's order and the dropout
    masks."""
    init_seed, shuffle_seed, dropout_seed = np.random.SeedSequence(settings.seed).spawn(3)
    model = MLP.initialise(
        [n_inputs, *settings.hidden, n_outputs],
        settings.activation,
        settings.init,
        np.random.default_rng(init_seed),
        dtype=settings.dtype,
        init_scale=settings.init_scale,
        leaky_slope=settings.leaky_slope,
        loss=settings.loss,
        output=settings.output,
        bias_init=settings.bias_init,
    )
    return model, np.random.default_rng(shuffle_seed), np.random.default_rng(dropout_seed)
