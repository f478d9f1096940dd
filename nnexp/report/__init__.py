"""Report of a sweep folder: comparison tables, a tidy CSV of runs, learning curves, index.md.

Usage: ``python -m nnexp.report <sweep folder>`` or :func:`build_report`.
"""

from __future__ import annotations

import logging
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from nnexp.errors import ReportError
from nnexp.report.published import compare, load_published, summary_text
from nnexp.report.figures import KINDS, plot_curves, save_figure
from nnexp.report.runs import config_names, load_curves, load_runs, varying
from nnexp.runstate import FINISHED, read_plan, status_counts
from nnexp.report.tables import METRICS, comparison_table, is_displayable, replicate_counts, write_table

log = logging.getLogger(__name__)

RUNS_FILE = "runs.csv"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=,-]+", "_", text)


def _check_options(runs: pd.DataFrame, rows: str, cols: str, metrics: list[str]) -> None:
    names = config_names(runs)
    for option, value in (("rows", rows), ("cols", cols)):
        if value not in names:
            raise ReportError(f"report {option}={value!r} is not a setting of these runs; allowed: {', '.join(names)}")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ReportError(f"report metrics {unknown} unknown; allowed: {', '.join(METRICS)}")


def build_report(
    sweep_dir: Path,
    out_dir: Path,
    rows: str = "hidden",
    cols: str = "activation",
    metrics: list[str] | None = None,
    published: list[Path] | None = None,
) -> Path:
    """Build the report of ``sweep_dir`` into ``out_dir``; return the path of its ``index.md``.

    One table per metric (``rows`` x ``cols``, replicates such as seeds averaged)
    and one curve grid per kind, repeated for each combination of any other
    setting that varies in the sweep (e.g. ``lr``). Each ``published`` table
    (``experiments/*.csv``) adds a published-vs-reproduced section.
    """
    metrics = metrics or ["test_acc", "train_seconds"]
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise ReportError(f"{sweep_dir} is not a folder; give the folder of a sweep (multirun/...) or of a run")
    runs = load_runs(sweep_dir)
    if runs.empty:
        raise ReportError(f"{sweep_dir} holds no runs (no summary.json, metrics.csv or .hydra/config.yaml below it)")
    _check_options(runs, rows, cols, metrics)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs.to_csv(out_dir / RUNS_FILE, index=False)
    measured = runs[runs["status"].isin(FINISHED)]  # runs with final metrics
    curves, skipped = load_curves(sweep_dir, measured)
    others = varying(measured, exclude=(rows, cols, "seed"))
    groups = measured.groupby(others, dropna=False, sort=True) if others else [((), measured)]

    lines = [f"# Sweep report: {sweep_dir.name}", ""]
    lines += _overview(sweep_dir, runs, skipped)
    if measured.empty:
        lines += ["No run has finished yet: no tables or figures.", ""]
        groups = []
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        setting = ", ".join(f"{name}={value}" for name, value in zip(others, key))
        suffix = f"__{_slug(setting)}" if setting else ""
        lines += [f"## {setting}", ""] if setting else []
        low, high = replicate_counts(group, rows, cols)
        replicates = f"mean of {low}–{high} runs per cell" if low != high else f"mean of {low} run{'s' * (low != 1)} per cell"
        for metric in metrics:
            if not is_displayable(group, metric):
                continue
            caption = f"{METRICS[metric].title} by {rows} and {cols}" + (f" ({setting})" if setting else "")
            mean, ci = comparison_table(group, rows, cols, metric)
            paths = write_table(mean, ci, metric, out_dir / f"{metric}_by_{rows}_{cols}{suffix}", caption)
            spread = " ± 95% confidence interval (t)" if "ci95" in paths else ""
            lines += [f"### {caption}", "", f"{replicates}{spread}; rows: {rows}, columns: {cols}.", ""]
            links = " · ".join(f"[{label}]({paths[key].name})" for key, label in
                               (("csv", "CSV"), ("ci95", "CI CSV"), ("tex", "LaTeX")) if key in paths)  # fmt: skip
            lines += [paths["md"].read_text(), links, ""]
        group_curves = curves[curves["run"].isin(group["run"])] if not curves.empty else curves
        if not group_curves.empty:
            for kind, label in KINDS.items():
                title = f"{label.split(' (')[0]} per epoch: {sweep_dir.name}" + (f" ({setting})" if setting else "")
                fig = plot_curves(group_curves, rows, cols, kind, title)
                path = save_figure(fig, out_dir / f"curves_{kind}{suffix}.png")
                lines += [f"![{title}]({path.name})", ""]
    for path in published or []:
        lines += _published_section(resolve_published(Path(path)), measured, out_dir)
    lines += ["## Runs", "", f"One row per run, with its settings and final metrics: [{RUNS_FILE}]({RUNS_FILE}).", ""]
    index = out_dir / "index.md"
    index.write_text("\n".join(lines))
    log.info("report of %d runs written to %s", len(runs), out_dir)
    return index


def resolve_published(path: Path) -> Path:
    """``path`` as given, or relative to the project folder (where ``experiments/`` is)."""
    if path.exists() or path.is_absolute():
        return path
    return Path(__file__).resolve().parents[2] / path


def _published_section(path: Path, runs: pd.DataFrame, out_dir: Path) -> list[str]:
    table = load_published(path)
    shutil.copy(path, out_dir / path.name)
    comparison = compare(table, runs)
    comparison.to_csv(out_dir / f"published_{path.stem}.csv", index=False)
    source = table["source"].iloc[0] + (f", {table['table'].iloc[0]}" if "table" in table else "")
    shown = comparison.assign(
        ours=[("–" if pd.isna(m) else f"{m:.2f}" + (f" ± {c:.2f}" if pd.notna(c) else "")) for m, c in
              zip(comparison["ours"], comparison["ci95"])],
        delta=comparison["delta"].map(lambda d: "–" if pd.isna(d) else f"{d:+.2f}"),
        published=[f"{r} {v:g}" if r != "=" else f"{v:g}" for r, v in zip(comparison["relation"], comparison["published"])],
        closest=comparison["closest"].map({True: "◀", False: ""}),
    ).drop(columns=["ci95", "relation"])  # fmt: skip
    if not comparison["setting"].astype(bool).any():
        shown = shown.drop(columns=["setting", "closest"])
    protocol = table["protocol"].iloc[0] if "protocol" in table else ""
    return [
        f"## Published vs reproduced: {source}", "",
        f"From [{path.name}]({path.name}). {protocol}".strip(), "",
        summary_text(comparison, source), "",
        "ours: mean ± 95% CI over seeds; delta = ours − published; verdict: where the published value"
        " lies relative to our CI (for claims 'published ≥ x': whether our CI clears x).", "",
        shown.to_markdown(index=False, stralign="right", disable_numparse=True), "",
        f"[CSV](published_{path.stem}.csv)", "",
    ]  # fmt: skip


def _overview(sweep_dir: Path, runs: pd.DataFrame, skipped: list[str]) -> list[str]:
    planned = (read_plan(sweep_dir) or {}).get("total")
    found = f"{len(runs)} runs" + (f" of {planned} planned" if planned else "")
    status = status_counts(runs["status"])
    lines = [
        f"- Sweep folder: `{sweep_dir}`",
        f"- Runs: {found} ({status})",
        f"- Varied: {', '.join(varying(runs)) or 'nothing'}",
        f"- Built: {datetime.now(timezone.utc).isoformat(timespec='seconds')}",
        "",
    ]
    not_done = runs[runs["status"] != "completed"]
    if not not_done.empty:
        lines += ["Runs that did not complete (in the tables only if they have metrics):", ""]
        for run in not_done.to_dict("records"):
            error = run.get("error")
            lines.append(f"- `{run['run']}`: {run['status']}" + (f" — {error}" if isinstance(error, str) else ""))
        lines.append("")
    if skipped:
        lines += ["Learning curves skipped (unreadable metrics.csv):", ""] + [f"- {s}" for s in skipped] + [""]
    return lines
