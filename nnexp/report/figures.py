"""Learning-curve figures built from a tidy per-epoch frame (usable from a notebook too)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from nnexp.report.runs import natural_key  # noqa: E402
from nnexp.report.stats import t_interval  # noqa: E402

KINDS = {"loss": "Cross-entropy loss", "acc": "Accuracy (%)"}


def _ordered(values: pd.Series) -> list:
    unique = pd.Series(values.unique())
    return list(unique.iloc[natural_key(unique).argsort()]) if len(unique) else []


def seed_band(cell: pd.DataFrame, column: str, scale: float = 1.0) -> pd.DataFrame:
    """Per epoch: mean of ``column`` over the runs in ``cell`` and its 95% CI (low, high; equal to the mean for one run)."""
    rows = []
    for epoch, group in cell.groupby("epoch"):
        mean, half, _ = t_interval(group[column] * scale)
        half = 0.0 if np.isnan(half) else half
        rows.append({"epoch": epoch, "mean": mean, "low": mean - half, "high": mean + half})
    return pd.DataFrame(rows, columns=["epoch", "mean", "low", "high"]).set_index("epoch")


def plot_curves(curves: pd.DataFrame, rows: str, cols: str, kind: str, title: str) -> plt.Figure:
    """A grid of panels (``rows`` x ``cols`` values), each with train and validation ``kind`` per epoch.

    ``curves`` has one row per run and epoch (``epoch``, ``train_<kind>``, ``val_<kind>``
    and the config columns); replicates (seeds) of a configuration are shown as their
    mean with a shaded 95% confidence band.
    """
    row_values, col_values = _ordered(curves[rows]), _ordered(curves[cols])
    fig, axes = plt.subplots(
        len(row_values), len(col_values), figsize=(3.2 * len(col_values) + 0.6, 2.4 * len(row_values) + 0.8),
        sharex=True, sharey=True, squeeze=False,
    )  # fmt: skip
    scale = 100.0 if kind == "acc" else 1.0
    for i, row_value in enumerate(row_values):
        for j, col_value in enumerate(col_values):
            ax = axes[i][j]
            cell = curves[(curves[rows] == row_value) & (curves[cols] == col_value)]
            for split, label, color, style in (("train", "train", "tab:blue", "-"),
                                               ("val", "validation", "tab:orange", "--")):  # fmt: skip
                band = seed_band(cell, f"{split}_{kind}", scale)
                if band.empty:
                    continue
                ax.plot(band.index, band["mean"], label=label, color=color, linestyle=style)
                ax.fill_between(band.index, band["low"], band["high"], color=color, alpha=0.2, linewidth=0)
            ax.set_title(f"{rows}={row_value}, {cols}={col_value}", fontsize=9)
            ax.grid(alpha=0.3)
            if i == len(row_values) - 1:
                ax.set_xlabel("epoch")
            if j == 0:
                ax.set_ylabel(KINDS[kind])
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Save ``fig`` as PNG at ``path`` and close it."""
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
