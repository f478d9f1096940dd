"""``python -m nnexp.bench.table2``: the shape fit, the write-up baseline's gradients, and a tiny run end to end."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nnexp.bench import table2
from nnexp.bench.implementations import WRITEUP_ACTIVATIONS, epochs_numpy_writeup, writeup_gradients
from nnexp.bench.synthetic import synthetic_splits
from nnexp.report.published import load_published
from nnexp.resources import published_table

ACTIVATIONS = ["sigmoid", "relu", "tanh"]
HIDDEN = [32, 64, 128, 256]


def published() -> pd.Series:
    """Write-up 000's Table 2 seconds indexed by (activation, hidden), from the repository's table."""
    return table2.published_seconds(table2.PUBLISHED)


def test_published_table_has_the_twelve_cells():
    seconds = published()
    assert sorted(seconds.index) == sorted((act, h) for act in ACTIVATIONS for h in HIDDEN)
    table = load_published(published_table(table2.PUBLISHED)).set_index(["activation", "hidden"])["value"]
    assert seconds["tanh", 256] == pytest.approx(table["tanh", "256"])
    gap = 100 * (table["tanh", "32"] / table["sigmoid", "32"] - 1)  # the closest pair: tanh vs sigmoid at H 32
    assert table2.smallest_gap(seconds) == pytest.approx(gap)


def test_fit_of_a_scaled_copy_is_exact():
    seconds = published()
    fit = table2.fit_shape(seconds * 3, seconds)
    assert fit["factor"] == pytest.approx(1 / 3)
    assert fit["log_rms"] == pytest.approx(0, abs=1e-12) and fit["rms_pct"] == pytest.approx(0, abs=1e-9)
    assert fit["ratio_256_32_sigmoid"] == pytest.approx(seconds["sigmoid", 256] / seconds["sigmoid", 32])
    assert fit["order_matches"] == 4 and fit["cells_in_order"] == 12
    assert fit["order"].split("; ")[0] == "32: tanh > sigmoid > relu"


def test_fit_residual_and_order_on_a_constructed_case():
    seconds = published()
    # one cell 10 % slow, one 10 % fast: residuals ±log 1.1 about their mean, the rest at minus their mean
    ours = seconds.copy()
    ours["relu", 32] *= 1.1
    ours["tanh", 256] /= 1.1
    gap = np.log(seconds / ours)
    fit = table2.fit_shape(ours, seconds)
    assert fit["factor"] == pytest.approx(math.exp(gap.mean()))  # mean of +-log 1.1 and zeros: factor 1
    assert fit["factor"] == pytest.approx(1)
    assert fit["log_rms"] == pytest.approx(math.sqrt(2 * math.log(1.1) ** 2 / 12))
    assert fit["rms_pct"] == pytest.approx(100 * math.expm1(fit["log_rms"]))
    # relu at H 32 (116.5 * 1.1 = 128.2) stays below sigmoid (133.1): the order holds everywhere
    assert fit["cells_in_order"] == 12
    swapped = seconds.copy()
    swapped["relu", 64], swapped["tanh", 64] = seconds["tanh", 64], seconds["relu", 64]
    fit = table2.fit_shape(swapped, seconds)
    assert fit["order_matches"] == 3 and fit["cells_in_order"] == 10  # sigmoid keeps its middle rank at H 64
    assert "64: relu > sigmoid > tanh" in fit["order"]


def test_compare_names_the_best_fit_and_poor_protocols():
    seconds = published()
    rows = []
    for name, scale in (("shaped", seconds * 0.01), ("flat", seconds * 0 + 1.0)):
        frame = scale.rename("seconds_per_epoch").reset_index()
        rows.append(frame.assign(protocol=name, batch="1", threads=1))
    fits = table2.compare(pd.concat(rows, ignore_index=True), seconds)
    assert list(fits["protocol"]) == ["shaped", "flat"]
    assert list(fits["verdict"]) == ["best fit", "poor"]
    assert fits.loc[0, "factor"] == pytest.approx(100)
    fits = table2.compare(rows[1], seconds)  # the flat one alone: the best, but no fit
    assert list(fits["verdict"]) == ["best, but poor"]


def _loss(params, X, Y, activation):
    """Mean cross-entropy of the write-up network: X : (n_in, m), Y : (classes, m) one-hot."""
    W1, b1, W2, b2 = params
    Z2 = W2 @ WRITEUP_ACTIVATIONS[activation][0](W1 @ X + b1) + b2
    Z2 = Z2 - Z2.max(axis=0, keepdims=True)
    return float(-np.mean(np.sum(Y * (Z2 - np.log(np.exp(Z2).sum(axis=0, keepdims=True))), axis=0)))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_writeup_gradients_match_finite_differences(activation):
    rng = np.random.default_rng(1)
    n_in, hidden, classes, m = 6, 5, 3, 7
    params = [
        rng.standard_normal((hidden, n_in)),
        rng.standard_normal((hidden, 1)),
        rng.standard_normal((classes, hidden)),
        rng.standard_normal((classes, 1)),
    ]
    X = rng.standard_normal((n_in, m))
    Y = np.eye(classes)[rng.integers(0, classes, m)].T
    grads = writeup_gradients(*params, X, Y, activation)
    eps = 1e-6
    for param, grad in zip(params, grads):
        assert grad.shape == param.shape
        numeric = np.zeros_like(param)
        for index in np.ndindex(param.shape):
            saved = param[index]
            param[index] = saved + eps
            up = _loss(params, X, Y, activation)
            param[index] = saved - eps
            down = _loss(params, X, Y, activation)
            param[index] = saved
            numeric[index] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_writeup_baseline_rejects_an_unknown_activation():
    with pytest.raises(ValueError, match="no activation swish"):
        next(epochs_numpy_writeup(synthetic_splits(10), 4, 2, "sgd", "swish"))


def test_table2_tiny_run_writes_its_files(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(table2, "reuse_freed_memory", lambda: True)  # leave the test process's malloc alone
    monkeypatch.setattr(table2, "POOL_IDLE", 0.0)
    argv = ["--samples", "200", "--batch", "1,64", "--threads", "1", "--repeats", "1", "--out", str(tmp_path)]
    table2.main(argv)
    cells = pd.read_csv(tmp_path / "table2.csv")
    assert list(cells.columns[:7]) == [
        "protocol",
        "batch",
        "threads",
        "activation",
        "hidden",
        "seconds_per_epoch",
        "repeats",
    ]
    assert len(cells) == 2 * 12 and (cells["repeats"] == 1).all() and (cells["samples"] == 200).all()
    assert sorted(set(zip(cells["batch"].astype(str), cells["threads"]))) == [("1", 1), ("64", 1)]
    assert np.isfinite(cells["seconds_per_epoch"]).all() and (cells["seconds_per_epoch"] > 0).all()
    protocols = pd.read_csv(tmp_path / "protocols.csv")
    assert list(protocols["protocol"]) == ["batch 1, 1 thread", "batch 64, 1 thread"]
    assert np.isfinite(protocols[["factor", "log_rms", "ratio_256_32_tanh"]].to_numpy()).all()
    assert (protocols["factor"] > 0).all() and protocols["cells_in_order"].between(0, 12).all()
    assert protocols["verdict"].str.startswith("best").sum() == 1
    text = (tmp_path / "table2.md").read_text()
    assert text.startswith("# Write-up 000 Table 2") and "| batch 64, 1 thread |" in text
    assert text in capsys.readouterr().out
    assert "With 1 repeat the timing noise is unknown" in text
    (tmp_path / "table2.md").unlink()
    table2.main([*argv, "--refit"])  # fits the same cells again without timing them
    assert (tmp_path / "table2.md").read_text() == text
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "protocols.csv"), protocols)
