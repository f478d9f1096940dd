"""Comparison tables: one metric, one config key as rows and one as columns, replicates averaged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nnexp.report.escape import latex_text, markdown_table
from nnexp.report.metrics import METRICS
from nnexp.report.runs import natural_key
from nnexp.report.stats import cell_stats


def comparison_table(runs: pd.DataFrame, rows: str, cols: str, metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean of ``metric`` over the runs of each (rows, cols) cell, and the 95% CI half-width, scaled for display.

    Rows and columns are in natural order (32 before 128); a cell without runs is NaN,
    and so is the half-width of a cell with a single run.
    """
    cells = cell_stats(runs, [rows, cols], metric, METRICS[metric].scale)
    tables = []
    for value in ("mean", "ci95"):
        table = cells.pivot(index=rows, columns=cols, values=value)
        table = table.sort_index(key=natural_key).sort_index(axis=1, key=natural_key)
        table.index.name, table.columns.name = rows, cols
        tables.append(table)
    return tables[0], tables[1]


def format_cells(mean: pd.DataFrame, ci: pd.DataFrame, decimals: int, pm: str = "±") -> pd.DataFrame:
    """'mean ± half-width' strings ('mean' alone for single runs, '–' for empty cells)."""

    def cell(m: float, c: float) -> str:
        if pd.isna(m):
            return "–"
        return f"{m:.{decimals}f}" + (f" {pm} {c:.{decimals}f}" if pd.notna(c) else "")

    text = pd.DataFrame(
        [[cell(m, c) for m, c in zip(mr, cr)] for mr, cr in zip(mean.values, ci.values)],
        index=mean.index,
        columns=[str(c) for c in mean.columns],
    )
    text.columns.name = mean.columns.name
    return text


def write_table(mean: pd.DataFrame, ci: pd.DataFrame, metric: str, stem: Path, caption: str) -> dict[str, Path]:
    """Write the table as ``stem``.md and .tex (mean ± 95% CI), .csv (means) and _ci95.csv; return paths."""
    decimals = METRICS[metric].decimals
    paths = {fmt: stem.parent / f"{stem.name}.{fmt}" for fmt in ("md", "csv", "tex")}
    mean.round(decimals).to_csv(paths["csv"])
    if ci.notna().any().any():
        paths["ci95"] = stem.parent / f"{stem.name}_ci95.csv"
        ci.round(decimals).to_csv(paths["ci95"])
    shown = format_cells(mean, ci, decimals)
    paths["md"].write_text(markdown_table(shown.reset_index()).to_markdown(index=False, stralign="right") + "\n")
    latex = _latex_labels(format_cells(mean, ci, decimals, pm="$\\pm$")).style.to_latex(
        caption=latex_text(caption), hrules=True, position="ht", position_float="centering"
    )
    paths["tex"].write_text(latex)
    return paths


def _latex_labels(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its row and column labels, and their names, as LaTeX text (its cells are numbers)."""
    table = table.rename(index=latex_text, columns=latex_text)
    table.index.name, table.columns.name = (
        None if name is None else latex_text(name) for name in (table.index.name, table.columns.name)
    )
    return table


def replicate_counts(runs: pd.DataFrame, rows: str, cols: str) -> tuple[int, int]:
    """Fewest and most runs behind one table cell."""
    counts = runs.groupby([rows, cols], dropna=False).size()
    return (int(counts.min()), int(counts.max())) if len(counts) else (0, 0)


def is_displayable(runs: pd.DataFrame, metric: str) -> bool:
    return metric in runs.columns and np.isfinite(pd.to_numeric(runs[metric], errors="coerce")).any()
