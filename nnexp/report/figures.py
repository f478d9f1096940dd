"""Figures of a sweep, each built from a tidy DataFrame (so they work from a notebook too).

- :func:`plot_curves`: learning curves per configuration, seed bands, one colour per activation;
- :func:`plot_heatmap`: a metric over two settings, annotated with mean ± CI;
- :func:`plot_metric_vs_time`: accuracy against training time (cost and benefit of each run);
- :func:`plot_metric_vs_lr`: accuracy against learning rate, for sweeps over ``lr``;
- :func:`plot_parallel`: parallel coordinates over any number of swept settings;
- :func:`plot_search_history`: the objective of each trial of a search, and the best so far.

:func:`save_figure` writes PNG and SVG.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from nnexp.report.metrics import KINDS, METRICS
from nnexp.report.runs import natural_key
from nnexp.report.stats import cell_stats, t_half_width
from nnexp.report.tables import comparison_table

# each activation its colour, the same in every figure; other values (an activation not listed here too) take
# the colours of a fixed cycle by their place in the figure
ACTIVATION_COLORS = {
    "sigmoid": "tab:blue",
    "tanh": "tab:green",
    "relu": "tab:red",
    "leaky_relu": "tab:purple",
    "gelu": "tab:orange",
    "silu": "tab:cyan",
}
OTHER_COLORS = ("tab:brown", "tab:pink", "tab:olive", "tab:gray", "gold", "navy")  # none an activation's


def color_of(value: object, index: int = 0) -> str:
    """The colour of an activation (the same in every figure), or a fixed colour cycle for other values."""
    return ACTIVATION_COLORS.get(str(value)) or OTHER_COLORS[index % len(OTHER_COLORS)]


def _ordered(values: pd.Series) -> list:
    unique = pd.Series(values.unique())
    return list(unique.iloc[natural_key(unique).argsort()]) if len(unique) else []


def seed_band(cell: pd.DataFrame, column: str, scale: float = 1.0) -> pd.DataFrame:
    """Per epoch: mean of ``column`` over the runs in ``cell`` and its 95% CI (low, high; the mean for one run)."""
    values = pd.to_numeric(cell[column], errors="coerce") * scale
    per_epoch = values.groupby(cell["epoch"]).agg(["mean", "std", "count"]).rename_axis("epoch")
    half = np.nan_to_num(t_half_width(per_epoch["std"].to_numpy(), per_epoch["count"].to_numpy()))
    mean = per_epoch["mean"]
    return pd.DataFrame({"mean": mean, "low": mean - half, "high": mean + half})


def plot_curves(
    curves: pd.DataFrame, rows: str, cols: str, kind: str, title: str, hue: str = "activation"
) -> plt.Figure:
    """A grid of panels (``rows`` x ``cols`` values), each with train and validation ``kind`` per epoch.

    ``curves`` has one row per run and epoch (``epoch``, ``train_<kind>``, ``val_<kind>``
    and the config columns); replicates (seeds) of a configuration are shown as their
    mean with a shaded 95% confidence band; each value of ``hue`` (the activation,
    or the sweep when sweeps are compared) has its own colour, training is drawn
    solid and validation dashed.
    """
    row_values, col_values = _ordered(curves[rows]), _ordered(curves[cols])
    fig, axes = plt.subplots(
        len(row_values),
        len(col_values),
        figsize=(3.2 * len(col_values) + 0.6, 2.4 * len(row_values) + 0.8),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    scale = 100.0 if kind == "acc" else 1.0
    for i, row_value in enumerate(row_values):
        for j, col_value in enumerate(col_values):
            ax = axes[i][j]
            cell = curves[(curves[rows] == row_value) & (curves[cols] == col_value)]
            hues = _ordered(cell[hue]) if hue in cell else [None]
            for k, hue_value in enumerate(hues):
                lines = cell[cell[hue] == hue_value] if hue in cell else cell
                color = color_of(hue_value, k + j)
                prefix = f"{hue_value}: " if len(hues) > 1 else ""
                for split, label, style in (("train", "train", "-"), ("val", "validation", "--")):
                    band = seed_band(lines, f"{split}_{kind}", scale)
                    if band.empty:
                        continue
                    ax.plot(band.index, band["mean"], label=prefix + label, color=color, linestyle=style)
                    # the band as pixels inside the SVG: long runs have thousands of vertices
                    ax.fill_between(
                        band.index, band["low"], band["high"], color=color, alpha=0.2, linewidth=0, rasterized=True
                    )
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


def plot_heatmap(runs: pd.DataFrame, rows: str, cols: str, metric: str, title: str) -> plt.Figure:
    """``metric`` (mean over replicates) as a colour grid over two settings, each cell annotated."""
    mean, ci = comparison_table(runs, rows, cols, metric)
    shown = METRICS[metric]
    fig, ax = plt.subplots(figsize=(1.6 * len(mean.columns) + 2.6, 0.7 * len(mean.index) + 1.8))
    image = ax.imshow(mean.to_numpy(dtype=float), cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(mean.columns)), [str(c) for c in mean.columns])
    ax.set_yticks(range(len(mean.index)), [str(i) for i in mean.index])
    ax.set_xlabel(cols)
    ax.set_ylabel(rows)
    finite = mean.to_numpy(dtype=float)[np.isfinite(mean.to_numpy(dtype=float))]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0
    for i in range(len(mean.index)):
        for j in range(len(mean.columns)):
            m, c = mean.iat[i, j], ci.iat[i, j]
            if pd.isna(m):
                continue
            text = f"{m:.{shown.decimals}f}" + (f"\n± {c:.{shown.decimals}f}" if pd.notna(c) else "")
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="black" if m > middle else "white")
    fig.colorbar(image, ax=ax, label=shown.title)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def _finish(fig: plt.Figure, ax: plt.Axes, xlabel: str, ylabel: str, title: str) -> plt.Figure:
    """Labels, title, grid and legend of a single-panel figure."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _legend_groups(runs: pd.DataFrame, by: str) -> list[tuple[object, pd.DataFrame, str]]:
    groups = runs.groupby(by, sort=False) if by in runs else [("all runs", runs)]
    ordered = sorted(groups, key=lambda item: natural_key(pd.Series([item[0]])).iloc[0])
    return [(value, group, color_of(value, k)) for k, (value, group) in enumerate(ordered)]


def plot_metric_vs_time(runs: pd.DataFrame, metric: str = "test_acc", by: str = "activation") -> plt.Figure:
    """One point per run: ``metric`` against training time, coloured by ``by``."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for value, group, color in _legend_groups(runs, by):
        ax.scatter(
            group["train_seconds"],
            group[metric] * METRICS[metric].scale,
            color=color,
            label=f"{by}={value}",
            alpha=0.8,
            edgecolor="white",
            linewidth=0.5,
        )
    return _finish(
        fig,
        ax,
        "training time (s)",
        METRICS[metric].title,
        f"{METRICS[metric].title} against training time, one point per run",
    )


def plot_metric_vs_lr(runs: pd.DataFrame, metric: str = "test_acc", by: str = "activation") -> plt.Figure:
    """Mean ``metric`` ± 95% CI against the learning rate (log scale), one line per value of ``by``."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for value, group, color in _legend_groups(runs, by):
        cells = cell_stats(group, ["lr"], metric, METRICS[metric].scale).sort_values("lr")
        ax.errorbar(
            cells["lr"],
            cells["mean"],
            yerr=cells["ci95"].fillna(0),
            color=color,
            marker="o",
            capsize=3,
            label=f"{by}={value}",
        )
    ax.set_xscale("log")  # ticks at the learning rates swept, as plain text (figures never parse mathtext)
    ax.set_xticks(sorted(runs["lr"].unique()))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    return _finish(
        fig,
        ax,
        "learning rate (log scale)",
        METRICS[metric].title,
        f"{METRICS[metric].title} against learning rate (mean ± 95% CI)",
    )


def plot_parallel(runs: pd.DataFrame, params: list[str], metric: str = "test_acc") -> plt.Figure:
    """Parallel coordinates: one line per run through its swept settings, ending at ``metric`` (colour)."""
    values = runs[metric] * METRICS[metric].scale
    axes_values = []
    for param in params:
        ordered = _ordered(runs[param])
        axes_values.append((ordered, runs[param].map({v: k for k, v in enumerate(ordered)}) / max(len(ordered) - 1, 1)))
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    span = (high - low) or 1.0
    fig, ax = plt.subplots(figsize=(1.8 * (len(params) + 1) + 1.5, 4.4))
    colormap = plt.get_cmap("viridis")
    for i in range(len(runs)):
        ys = [position.iloc[i] for _, position in axes_values] + [(values.iloc[i] - low) / span]
        if np.isfinite(ys[-1]):
            ax.plot(range(len(ys)), ys, color=colormap(ys[-1]), alpha=0.6, linewidth=1)
    for k, (ordered, _) in enumerate(axes_values):
        _labelled_axis(ax, k, [(v / max(len(ordered) - 1, 1), str(label)) for v, label in enumerate(ordered)])
    decimals = METRICS[metric].decimals
    fractions = np.linspace(0, 1, 5) if high > low else [0.0]
    _labelled_axis(ax, len(params), [(q, f"{low + q * span:.{decimals}f}") for q in fractions])
    ax.set_xticks(range(len(params) + 1), [*params, METRICS[metric].title])
    ax.set_yticks([])
    ax.set_xlabel("swept settings, then the result")
    ax.set_ylabel("each axis: its values, lowest at the bottom")
    ax.set_xlim(-0.2, len(params) + 0.2)
    mappable = plt.cm.ScalarMappable(cmap=colormap, norm=plt.Normalize(low, high))
    fig.colorbar(mappable, ax=ax, label=METRICS[metric].title)
    ax.set_title(f"Every run through its settings, coloured by {METRICS[metric].title.lower()}", fontsize=10)
    fig.tight_layout()
    return fig


def _labelled_axis(ax: plt.Axes, x: float, marks: list[tuple[float, str]]) -> None:
    """A vertical axis at ``x`` with a tick and a label at each of ``marks`` (height in [0, 1], text)."""
    ax.axvline(x, color="black", linewidth=0.8)
    for y, text in marks:
        ax.plot([x - 0.04, x], [y, y], color="black", linewidth=0.8)
        ax.text(x + 0.03, y, text, fontsize=8, va="center")


def plot_search_history(runs: pd.DataFrame, metric: str = "val_acc") -> plt.Figure:
    """``metric`` of every trial in the order the runs started, with the best so far as a step line."""
    ordered = runs.sort_values("started")
    values = (ordered[metric] * METRICS[metric].scale).to_numpy(dtype=float)
    trials = np.arange(1, len(values) + 1)
    best = np.fmax.accumulate(np.where(np.isfinite(values), values, -np.inf))
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.scatter(trials, values, color="tab:blue", label="trial", zorder=3)
    ax.step(trials, np.where(np.isfinite(best), best, np.nan), where="post", color="tab:orange", label="best so far")
    return _finish(
        fig,
        ax,
        "trial (in start order)",
        METRICS[metric].title,
        f"Search history: {METRICS[metric].title.lower()} of each trial",
    )


def save_figure(fig: plt.Figure, stem: Path) -> Path:
    """Save ``fig`` as ``stem``.png and ``stem``.svg, close it, and return the PNG path."""
    png = stem.parent / f"{stem.name}.png"
    fig.savefig(png, dpi=110)
    fig.savefig(stem.parent / f"{stem.name}.svg")
    plt.close(fig)
    return png
