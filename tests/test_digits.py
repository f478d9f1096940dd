"""The no-download path: ``data=digits`` sets training defaults fit for its 1,221 training images, so the
README's grid gives a fair picture on it; the command line and presets still set their own values."""

from __future__ import annotations

import numpy as np
import pytest

from nnexp.data.sets.digits import read_digits
from nnexp.results import read_summary
from tests.conftest import run_nnexp

ACTIVATIONS, HIDDEN = ("sigmoid", "relu", "tanh"), (32, 64, 128, 256)


def _training(cfg) -> tuple:
    return cfg.epochs, cfg.batch_size, cfg.lr


def test_digits_sets_its_training_defaults_and_the_command_line_wins(compose_config) -> None:
    assert _training(compose_config(["data=digits"])) == (30, 16, 0.1)
    assert _training(compose_config([])) == (10, 64, 0.1)  # MNIST keeps the schema's defaults
    assert _training(compose_config(["data=digits", "epochs=1", "batch_size=full"])) == (1, "full", 0.1)
    assert _training(compose_config(["epochs=1", "data=digits"])) == (1, 16, 0.1)  # wherever it is written
    assert _training(compose_config(["data=digits", "+experiment=w000_tables"])) == (10, 1, 0.1)  # the preset's
    assert _training(compose_config(["data=digits", "optimizer=adam"])) == (30, 16, 0.001)


@pytest.mark.slow
def test_the_readme_grid_on_digits_reaches_90_percent_in_every_cell(tmp_path) -> None:
    """``python -m nnexp.run -m data=digits activation=sigmoid,relu,tanh hidden=32,64,128,256`` at the defaults
    (94.7-98.6% at seeds 0-7 when this was written; MNIST's 10 epochs of 64 gave sigmoid 14-71%)."""
    grid = [f"activation={','.join(ACTIVATIONS)}", f"hidden={','.join(map(str, HIDDEN))}"]
    done = run_nnexp(["-m", "data=digits", *grid, "hydra.sweep.dir=grid", "report.enabled=false"], tmp_path)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    summaries = [read_summary(path) for path in (tmp_path / "grid").glob("*/summary.json")]
    accuracy = {(s["config"]["activation"], s["config"]["hidden"]): s["test_acc"] for s in summaries}
    assert sorted(accuracy) == sorted((a, h) for a in ACTIVATIONS for h in HIDDEN)
    assert all(s["epochs_completed"] == 30 for s in summaries)
    table = "\n".join(f"{h:4} " + " ".join(f"{100 * accuracy[a, h]:5.1f}" for a in ACTIVATIONS) for h in HIDDEN)
    assert min(accuracy.values()) >= 0.9, f"test accuracy (%), rows hidden, columns {ACTIVATIONS}:\n{table}"


def test_the_shipped_file_is_read_as_scikit_learn_loads_it() -> None:
    from sklearn.datasets import load_digits

    x, y = read_digits()
    expected_x, expected_y = load_digits(return_X_y=True)
    assert x.dtype == expected_x.dtype and y.dtype == expected_y.dtype
    np.testing.assert_array_equal(x, expected_x)
    np.testing.assert_array_equal(y, expected_y)
