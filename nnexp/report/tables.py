"""Comparison tables: one metric, one config key as rows and one as columns, replicates averaged."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nnexp.report.runs import natural_key


@dataclass(frozen=True)
class Metric:
    """How a summary metric is shown: its title, a scale factor and decimals."""

    title: str
    scale: float = 1.0
    decimals: int = 4


METRICS = {
    "test_acc": Metric("Test accuracy (%)", 100, 2),
    "val_acc": Metric("Validation accuracy (%)", 100, 2),
    "train_acc": Metric("Training accuracy (%)", 100, 2),
    "best_val_acc": Metric("Best validation accuracy (%)", 100, 2),
    "test_acc_at_best_val": Metric("Test accuracy at the best validation epoch (%)", 100, 2),
    "test_loss": Metric("Test loss"),
    "val_loss": Metric("Validation loss"),
    "train_loss": Metric("Training loss"),
    "train_seconds": Metric("Training time (s)", 1, 3),
    "eval_seconds": Metric("Evaluation time (s)", 1, 3),
    "samples_per_second": Metric("Training samples per second", 1, 0),
}


def comparison_table(runs: pd.DataFrame, rows: str, cols: str, metric: str) -> pd.DataFrame:
    """Mean of ``metric`` over the runs of each (rows, cols) cell, scaled for display.

    Rows and columns are in natural order (32 before 128); a cell without runs is NaN.
    """
    shown = METRICS[metric]
    table = runs.pivot_table(index=rows, columns=cols, values=metric, aggfunc="mean", dropna=False)
    table = table.sort_index(key=natural_key).sort_index(axis=1, key=natural_key)
    table.index.name, table.columns.name = rows, cols
    return table * shown.scale


def write_table(table: pd.DataFrame, metric: str, stem: Path, caption: str) -> dict[str, Path]:
    """Write ``table`` as ``stem``.md, .csv and .tex; return the paths by format."""
    decimals = METRICS[metric].decimals
    paths = {fmt: stem.parent / f"{stem.name}.{fmt}" for fmt in ("md", "csv", "tex")}
    table.round(decimals).to_csv(paths["csv"])
    text = table.map(lambda v: "–" if pd.isna(v) else f"{v:.{decimals}f}")
    text.columns = [str(c) for c in text.columns]
    paths["md"].write_text(text.to_markdown(stralign="right") + "\n")
    latex = table.style.format(precision=decimals, na_rep="--").to_latex(
        caption=caption.replace("%", r"\%"), hrules=True, position="ht", position_float="centering"
    )
    paths["tex"].write_text(latex)
    return paths


def replicate_counts(runs: pd.DataFrame, rows: str, cols: str) -> tuple[int, int]:
    """Fewest and most runs behind one table cell."""
    counts = runs.groupby([rows, cols], dropna=False).size()
    return (int(counts.min()), int(counts.max())) if len(counts) else (0, 0)


def is_displayable(runs: pd.DataFrame, metric: str) -> bool:
    return metric in runs.columns and np.isfinite(pd.to_numeric(runs[metric], errors="coerce")).any()
