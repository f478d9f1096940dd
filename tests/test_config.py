"""Composition of the Hydra config tree and validation of its values."""

from __future__ import annotations

import re

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ValidationError

from nnexp.errors import ConfigError
from nnexp.training import RunSpec
from tests.conftest import settings_of


def test_defaults_are_the_write_ups_setting_on_mnist_with_the_joblib_launcher(compose_config) -> None:
    cfg = compose_config(hydra=True)
    assert "JoblibLauncher" in cfg.hydra.launcher._target_
    assert cfg.hydra.launcher.n_jobs == -1
    assert cfg.data.name == "mnist" and len(cfg.data.md5) == 4
    assert cfg.hydra.callbacks.sweep._target_ == "nnexp.sweep.callback.SweepCallback"
    spec = RunSpec.from_settings(settings_of(cfg))
    assert (spec.activation, spec.hidden, spec.method.lr, spec.batch_size) == ("sigmoid", (128,), 0.1, 64)


def test_launcher_can_be_tuned_or_replaced(compose_config) -> None:
    assert compose_config(["hydra.launcher.n_jobs=3"], hydra=True).hydra.launcher.n_jobs == 3
    basic = compose_config(["hydra/launcher=basic"], hydra=True)
    assert basic.hydra.launcher._target_.endswith("BasicLauncher")


def test_user_facing_keys_are_top_level(compose_config, idx_dataset) -> None:
    folder, _ = idx_dataset
    cfg = compose_config(
        [
            "activation=tanh",
            "hidden=[128,64]",
            "lr=0.5",
            "epochs=3",
            "batch_size=full",
            "init=he",
            "seed=7",
            "data=fashion_mnist",
            f"data.root={folder}",
        ]
    )
    spec = RunSpec.from_settings(settings_of(cfg))
    assert spec.hidden == (128, 64) and spec.batch_size is None and spec.init == "he" and spec.seed == 7
    assert spec.data.name == "fashion_mnist" and spec.data.root == str(folder) and spec.data_shape == (120, 784)


def test_data_root_comes_from_the_environment(compose_config, monkeypatch) -> None:
    monkeypatch.setenv("NNEXP_DATA_DIR", "/somewhere/mnist")
    assert compose_config().data.root == "/somewhere/mnist"
    monkeypatch.delenv("NNEXP_DATA_DIR")
    assert compose_config().data.root is None


def test_digits_runs_without_files(compose_config) -> None:
    cfg = compose_config(["data=digits"])
    assert cfg.data.name == "digits" and not cfg.data.urls


@pytest.mark.parametrize(
    "override, message",
    [
        ("hiden=64", "Key 'hiden' not in 'Config'"),
        ("lr=fast", "Value 'fast' of type 'str' could not be converted to Float"),
        (
            "activation=softplus",
            "Invalid value 'softplus', expected one of \\[gelu, leaky_relu, relu, sigmoid, silu, tanh\\]",
        ),
        ("init=glorot", "expected one of \\[he, lecun, normal, xavier\\]"),
        ("data=imagenet", "Could not find 'data/imagenet'"),
    ],
)
def test_typos_and_wrong_types_fail_at_composition(compose_config, override, message) -> None:
    with pytest.raises((ConfigCompositionException, ValidationError)) as info:
        compose_config([override])
    chain, exc = [], info.value
    while exc is not None:  # Hydra prints the innermost message, which names key and allowed values
        chain.append(str(exc))
        exc = exc.__cause__
    assert re.search(message, "\n".join(chain)), chain


@pytest.mark.parametrize(
    "override, message",
    [
        ("hidden=0", "hidden=0 is invalid; allowed: a positive int or a list of positive ints"),
        ("hidden=[64,-1]", "hidden=\\[64, -1\\] is invalid"),
        ("hidden=wide", "hidden=wide is invalid"),
        ("batch_size=0", "batch_size=0 is invalid; allowed: an int >= 1 \\(1 = pure SGD\\) or 'full'"),
        ("batch_size=half", "batch_size=half is invalid"),
        ("lr=0", "lr=0.0 is invalid; allowed: a finite number > 0"),
        ("lr=-0.1", "lr=-0.1 is invalid"),
        ("epochs=0", "epochs=0 is invalid; allowed: an int >= 1"),
        ("leaky_slope=1.5", "leaky_slope=1.5 is invalid; allowed: a number in \\(0, 1\\)"),
        ("data.val_size=0", "data.val_size=0.0 is invalid"),
        ("data.loader=cifar", "data.loader=cifar is not a known reader; allowed: digits, idx"),
        ("data.val_size=inf", "data.val_size=inf is invalid; allowed: a fraction in \\(0, 1\\) or a count >= 1"),
        ("init_scale=inf", "init_scale=inf is invalid; allowed: a finite number > 0"),
        ("seed=-1", "seed=-1 is invalid; allowed: an int >= 0"),
        ("data.train_limit=0", "data.train_limit=0 is invalid; allowed: null or an int >= 1"),
    ],
)
def test_invalid_values_get_one_line_naming_key_value_and_allowed(compose_config, override, message) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        RunSpec.from_settings(settings_of(compose_config([override])))
    assert "\n" not in str(info.value)
