"""Property-based tests: whatever the bytes or values, users only ever see our own clear errors."""

from __future__ import annotations

import gzip
import math
import string
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf.errors import OmegaConfBaseException

from nnexp.command_line import COMPOSE_OPTIONS, register_configs
from nnexp.data import DataFileError, read_idx
from nnexp.data.idx import idx_bytes, read_idx_shape
from nnexp.errors import ConfigError
from nnexp.training import RunSpec
from tests.conftest import CONF_DIR, digits_n_train, settings_of


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """One folder for every example of the module (hypothesis runs many examples per test call)."""
    return tmp_path_factory.mktemp("idx")


def _parse(scratch: Path, data: bytes, compressed: bool) -> None:
    path = scratch / "file.gz"
    path.write_bytes(gzip.compress(data) if compressed else data)
    for reader in (read_idx, read_idx_shape):
        try:
            reader(path)
        except DataFileError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.booleans())
def test_random_bytes_give_an_array_or_our_error(scratch, data: bytes, compressed: bool) -> None:
    _parse(scratch, data, compressed)


@settings(max_examples=300, deadline=None)
@given(
    shape=st.lists(st.integers(0, 5), min_size=1, max_size=3),
    dtype=st.sampled_from([np.uint8, np.int16, np.int32, np.float32, np.float64]),
    edits=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 255)), max_size=4),
    cut=st.one_of(st.none(), st.integers(0, 200)),
    compressed=st.booleans(),
)
def test_mutated_headers_and_truncations_give_our_error(scratch, shape, dtype, edits, cut, compressed) -> None:
    data = bytearray(idx_bytes(np.ones(shape, dtype=dtype)))
    for position, value in edits:
        if position < len(data):
            data[position] = value
    _parse(scratch, bytes(data[:cut] if cut is not None else data), compressed)


def _value_text(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ",".join(str(v) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


VALUES = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1, max_size=8),
    st.lists(st.integers(-3, 300), max_size=3),
    st.booleans(),
    st.none(),
)
KEYS = [
    "hidden",
    "batch_size",
    "lr",
    "epochs",
    "leaky_slope",
    "init_scale",
    "blas_threads",
    "seed",
    "activation",
    "init",
    "dtype",
    "data.val_size",
    "data.train_limit",
    "data.split_seed",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(KEYS), value=VALUES)
def test_random_config_values_are_accepted_or_get_a_clear_error(key, value) -> None:
    register_configs()
    GlobalHydra.instance().clear()
    override = f"{key}={_value_text(value)}"
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), **COMPOSE_OPTIONS):
            cfg = compose("config", overrides=["data=digits", override])
    except (HydraException, OmegaConfBaseException):
        return  # Hydra's own message, naming the key and the expected type
    finally:
        GlobalHydra.instance().clear()
    try:
        spec = RunSpec.from_settings(settings_of(cfg))
    except ConfigError as exc:
        assert "\n" not in str(exc) and key.split(".")[-1] in str(exc)
        return
    assert spec.epochs >= 1
    assert isinstance(spec.hidden, tuple) and all(h >= 1 for h in spec.hidden)  # () is no hidden layer
    assert math.isfinite(spec.method.lr) and spec.method.lr > 0
    assert math.isfinite(spec.init_scale) and spec.init_scale > 0
    n_train = digits_n_train(spec.data.val_size, spec.data.train_limit)  # 1,222 with the digits defaults
    assert spec.n_train == n_train
    assert spec.batch_size is None or 1 <= spec.batch_size <= n_train
    assert 0 < spec.leaky_slope < 1
    assert spec.seed >= 0
    assert spec.blas_threads is None or spec.blas_threads >= 1
