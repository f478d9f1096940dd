"""Building the report of a sweep folder (or a comparison of sweeps): its sections in order, then the files.

Usage: ``python -m nnexp.report <sweep folder>`` or :func:`build_report`.
"""

from __future__ import annotations

import logging
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from nnexp.errors import ReportError
from nnexp.report.document import Block, start_build, write_documents
from nnexp.report.escape import markdown_code, markdown_link, markdown_text
from nnexp.report.metrics import KINDS, METRICS
from nnexp.report.options import check_options
from nnexp.report.protocols import READINGS, protocol_columns, rankings, reading_label, verdict_text
from nnexp.report.published import compare, load_published, on_published_data, source_of, summary_text
from nnexp.report.render import Figures
from nnexp.report.runs import config_names, data_descriptions, load_curves, load_runs, varying
from nnexp.report.tables import (
    comparison_table,
    format_cells,
    is_displayable,
    replicate_counts,
    write_table,
)
from nnexp.resources import published_table
from nnexp.results import FINISHED, RunStatus, status_counts
from nnexp.results.plan_file import read_plan
from nnexp.setting_kinds import REPLICATES

log = logging.getLogger(__name__)

RUNS_FILE = "runs.csv"
CURVES_FILE = "curves.csv.xz"  # the per-epoch evidence: every run's metrics.csv, in one file (xz: ~30% below gzip)
CURVES_FILES_BEFORE = ("curves.csv.gz",)  # what reports built before 2026-12-05 ship: read, never written
SEARCH_RESULTS = "optimization_results.yaml"  # written by Hydra's Optuna sweeper


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=,-]+", "_", text)


def report_folder(sweep_dir: Path) -> Path:
    """Where the report of ``sweep_dir`` goes unless told otherwise: into the sweep folder, as ``report/``
    (beside the runs, never into the project's curated ``reports/``)."""
    return Path(sweep_dir) / "report"


def build_report(
    sweep_dir: Path,
    out_dir: Path,
    rows: str = "hidden",
    cols: str = "activation",
    metrics: list[str] | None = None,
    published: list[Path] | None = None,
    parallel: dict[str, Any] | None = None,
) -> Path:
    """Build the report of ``sweep_dir`` into ``out_dir``; return the path of its ``index.md``.

    One table and heatmap per metric (``rows`` x ``cols``, replicates such as seeds
    averaged) and one curve grid per kind, repeated for each combination of any
    other setting that varies in the sweep (e.g. ``lr``); then accuracy against time,
    against the learning rate (when it varies) and across every swept setting. Each
    ``published`` table (``experiments/*.csv``) adds a published-vs-reproduced section.
    The same content is written as ``index.md`` and a self-contained ``index.html``.
    Figures are drawn by ``joblib.Parallel(**parallel)`` when given (see :mod:`nnexp.report.render`).
    """
    metrics = metrics or ["test_acc", "train_seconds"]
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise ReportError(f"{sweep_dir} is not a folder; give the folder of a sweep (multirun/...) or of a run")
    runs = load_runs(sweep_dir)
    if runs.empty:
        raise ReportError(f"{sweep_dir} holds no runs (no summary.json, metrics.csv or .hydra/config.yaml below it)")
    check_options(config_names(runs), rows, cols, metrics, [str(p) for p in published or []])
    started = start_build(out_dir)
    runs.to_csv(out_dir / RUNS_FILE, index=False)
    measured = runs[runs["status"].isin(FINISHED)]  # runs with final metrics
    curves, skipped = load_curves(sweep_dir, measured)
    write_curves(curves, config_names(runs), out_dir)
    others = varying(measured, exclude=(rows, cols, *REPLICATES))
    followers = [name for name in others if follows(measured, name, [rows, cols])]
    others = [name for name in others if name not in followers]
    groups = measured.groupby(others, dropna=False, sort=True) if others and not measured.empty else [((), measured)]

    figures = Figures()
    name = sweep_name(sweep_dir, runs)
    blocks = [Block("h1", f"Sweep report: {name}"), *_overview(sweep_dir, runs, skipped)]
    if followers:
        blocks.append(
            Block(
                "p",
                markdown_text(f"{', '.join(followers)}: one value per {rows} and {cols}, so no section of its own."),
            )
        )
    if measured.empty:
        blocks.append(Block("p", "No run has finished yet: no tables or figures."))
        groups = []
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        setting = ", ".join(f"{name}={value}" for name, value in zip(others, key))
        blocks += _group_section(group, curves, setting, rows, cols, metrics, out_dir, name, figures)
    search = sweep_dir / SEARCH_RESULTS
    if search.exists() and not measured.empty:
        blocks += _search_section(search, measured, out_dir, figures)
    if not measured.empty:
        metric = metrics[0] if metrics[0] in METRICS else "test_acc"
        blocks += _overall_figures(measured, rows, cols, metric, out_dir, figures)
    for path in published or []:
        blocks += _published_section(published_table(path), measured, curves, metrics, out_dir)
    blocks += [
        Block("h2", "Runs"),
        Block("p", f"One row per run, with its settings and final metrics: {markdown_link(RUNS_FILE, RUNS_FILE)}."),
    ]
    if not curves.empty:
        blocks.append(
            Block(
                "p",
                "One row per run and epoch, with the run's folder (`run`, as in the runs table) and its"
                " metrics.csv, each number to the digits it carries (times 3 significant digits, losses and norms 6,"
                f" the rest 7): {markdown_link(CURVES_FILE, CURVES_FILE)}.",
            )
        )
    figures.draw(parallel)
    index = write_documents(blocks, out_dir, f"Sweep report: {name}", started)
    return index


def shipped_digits(column: str) -> int:
    """The significant digits ``CURVES_FILE`` keeps of a metrics.csv ``column``: those the measurement carries.

    Times 3 (the same run's times vary by more than 1% from run to run on these machines); losses and norms 6 (float32
    values: the 7th digit is at the rounding of their terms); the rest 7 (accuracies and fractions are counts over at
    most 60,000 images, exact at 7 digits; epochs and learning rates are as set).
    """
    if column.endswith("_seconds"):
        return 3
    if column.endswith(("_loss", "_norm")):
        return 6
    return 7


def _significant(values: np.ndarray, digits: int) -> np.ndarray:
    """``values`` rounded to ``digits`` significant digits, in decimal as printed (any magnitude; zeros, NaN and
    infinities as they are)."""
    return np.array([float(f"{value:.{digits}g}") for value in values.tolist()], dtype=float)


def write_curves(curves: pd.DataFrame, settings: list[str], out_dir: Path) -> None:
    """Write the per-epoch metrics of the runs (``curves``, as :func:`~nnexp.report.runs.load_curves` gives them) as
    ``CURVES_FILE``: ``run`` and the columns of metrics.csv, each number to its :func:`shipped_digits` (the runs'
    ``settings`` are in the runs table); the same runs give the same bytes (xz keeps no timestamp)."""
    if curves.empty:
        return
    metrics = [name for name in curves.columns if name not in settings and name != "run"]
    shipped = curves[["run", *metrics]].copy()
    for name in metrics:
        if pd.api.types.is_float_dtype(shipped[name]):
            shipped[name] = _significant(shipped[name].to_numpy(dtype=float), shipped_digits(name))
    shipped.to_csv(out_dir / CURVES_FILE, index=False, float_format="%.7g", compression={"method": "xz", "preset": 9})


def sweep_name(sweep_dir: Path, runs: pd.DataFrame) -> str:
    """What the report calls the sweep: its preset (``preset``), else its folder's name."""
    presets = runs["preset"].dropna().astype(str).unique() if "preset" in runs else []
    return presets[0] if len(presets) == 1 and presets[0] else sweep_dir.name


def concurrency(runs: pd.DataFrame) -> int:
    """The most runs that were running at the same moment (from their start and finish times)."""
    if not {"started", "finished"} <= set(runs.columns):
        return 1
    events = []
    for start, end in zip(
        pd.to_datetime(runs["started"], errors="coerce"), pd.to_datetime(runs["finished"], errors="coerce")
    ):
        if pd.notna(start) and pd.notna(end):
            events += [(start, 1), (end, -1)]
    running = most = 0
    for _, change in sorted(events, key=lambda event: (event[0], event[1])):
        running += change
        most = max(most, running)
    return max(most, 1)


TIMINGS = ("train_seconds", "eval_seconds", "samples_per_second")


def follows(runs: pd.DataFrame, name: str, keys: list[str]) -> bool:
    """Whether setting ``name`` has a single value in each group of ``keys`` (e.g. the learning rate each
    optimizer group sets): then it is not an independent factor of the tables."""
    return bool(len(runs)) and bool((runs.groupby(keys, dropna=False)[name].nunique(dropna=False) <= 1).all())


def _group_section(
    group: pd.DataFrame,
    curves: pd.DataFrame,
    setting: str,
    rows: str,
    cols: str,
    metrics: list[str],
    out_dir: Path,
    name: str,
    figures: Figures,
) -> list[Block]:
    """Tables, heatmaps and learning curves of the runs sharing one value of the other varied settings."""
    suffix = f"__{_slug(setting)}" if setting else ""
    blocks = [Block("h2", setting)] if setting else []
    low, high = replicate_counts(group, rows, cols)
    replicates = (
        f"mean of {low}–{high} runs per cell" if low != high else f"mean of {low} run{'s' * (low != 1)} per cell"
    )
    for metric in metrics:
        if not is_displayable(group, metric):
            continue
        caption = f"{METRICS[metric].title} by {rows} and {cols}" + (f" ({setting})" if setting else "")
        mean, ci = comparison_table(group, rows, cols, metric)
        stem = out_dir / f"{metric}_by_{rows}_{cols}{suffix}"
        paths = write_table(mean, ci, metric, stem, caption)
        spread = " ± 95% confidence interval (t)" if "ci95" in paths else ""
        links = {
            label: paths[key].name
            for key, label in (("csv", "CSV"), ("ci95", "CI CSV"), ("tex", "LaTeX"))
            if key in paths
        }
        shown = format_cells(mean, ci, METRICS[metric].decimals).reset_index()
        at_once = concurrency(group) if metric in TIMINGS else 1
        noisy = (
            f" Up to {at_once} of these runs ran at the same time on shared cores: their times are noisy; time one"
            " run at a time (hydra.launcher.n_jobs=1) to compare them."
            if at_once > 1
            else ""
        )
        blocks += [
            Block("h3", caption),
            Block("p", markdown_text(f"{replicates}{spread}; rows: {rows}, columns: {cols}.{noisy}")),
            Block("table", table=shown, links=links),
        ]
        if min(len(mean.index), len(mean.columns)) > 1:  # a single row or column reads best as the table itself
            blocks.append(
                figures.add(Path(f"{stem}_heatmap"), caption, "plot_heatmap", group, rows, cols, metric, caption)
            )
    group_curves = curves[curves["run"].isin(group["run"])] if not curves.empty else curves
    if not group_curves.empty:
        for kind, label in KINDS.items():
            title = f"{label.split(' (')[0]} per epoch: {name}" + (f" ({setting})" if setting else "")
            bands = "bands: 95% CI over seeds" if high > 1 else "one run per configuration: no bands"
            caption = (
                f"{title}; solid: training (from the training pass: in mini-batch or dropout training, the mean over"
                f" the epoch's steps, before each update), dashed: validation (the weights at the epoch's end); {bands}"
            )
            blocks.append(
                figures.add(
                    out_dir / f"curves_{kind}{suffix}", caption, "plot_curves", group_curves, rows, cols, kind, title
                )
            )
    return blocks


def _overall_figures(
    measured: pd.DataFrame, rows: str, cols: str, metric: str, out_dir: Path, figures: Figures
) -> list[Block]:
    """Cost and benefit of every run, accuracy against the learning rate, and all swept settings at once."""
    if metric == "train_seconds":
        metric = "test_acc"
    by = "activation" if "activation" in measured else cols
    blocks = [
        Block("h2", "Across the sweep"),
        figures.add(
            out_dir / f"{metric}_vs_time",
            "Accuracy against training time: which runs buy accuracy with time",
            "plot_metric_vs_time",
            measured,
            metric,
            by,
        ),
    ]
    swept = varying(measured, exclude=REPLICATES)
    if "lr" in swept:
        blocks.append(
            figures.add(
                out_dir / f"{metric}_vs_lr",
                "Accuracy against learning rate (mean ± 95% CI over the other runs)",
                "plot_metric_vs_lr",
                measured,
                metric,
                by,
            )
        )
    if len(swept) >= 2:
        blocks.append(
            figures.add(
                out_dir / "parallel_coordinates",
                f"Every run through its {len(swept)} swept settings",
                "plot_parallel",
                measured,
                swept,
                metric,
            )
        )
    return blocks


def build_comparison(
    sweep_dirs: list[Path],
    out_dir: Path,
    rows: str = "hidden",
    cols: str = "activation",
    metrics: list[str] | None = None,
    parallel: dict[str, Any] | None = None,
) -> Path:
    """A report comparing two or more sweeps: side-by-side tables and overlaid learning curves.

    E.g. the same grid on MNIST and Fashion-MNIST, or before and after a code change.
    Returns the path of ``index.md`` (``index.html`` is written beside it); ``parallel`` as
    in :func:`build_report`.
    """
    metrics = metrics or ["test_acc", "train_seconds"]
    if len(sweep_dirs) < 2:
        raise ReportError("compare needs two or more sweep folders")
    names = [Path(d).name for d in sweep_dirs]
    if len(set(names)) < len(names):
        names = [str(d) for d in sweep_dirs]
    frames, curve_frames = [], []
    for name, sweep_dir in zip(names, sweep_dirs):
        if not Path(sweep_dir).is_dir():
            raise ReportError(f"{sweep_dir} is not a folder; give the folders of the sweeps to compare")
        runs = load_runs(Path(sweep_dir))
        if runs.empty:
            raise ReportError(
                f"{sweep_dir} holds no runs (no summary.json, metrics.csv or .hydra/config.yaml below it)"
            )
        check_options(config_names(runs), rows, cols, metrics)
        measured = runs[runs["status"].isin(FINISHED)].assign(sweep=name)
        frames.append(measured)
        curve_frames.append(load_curves(Path(sweep_dir), measured)[0].assign(sweep=name))
    runs, curves = pd.concat(frames, ignore_index=True), pd.concat(curve_frames, ignore_index=True)
    started = start_build(out_dir)
    runs.to_csv(out_dir / RUNS_FILE, index=False)
    side_by_side = runs.assign(**{"sweep · " + cols: runs["sweep"] + " · " + runs[cols].astype(str)})
    blocks = [
        Block("h1", "Comparison: " + " vs ".join(names)),
        Block(
            "list",
            items=[
                f"{markdown_code(name)}: {status_counts(frame['status'])} runs from {markdown_code(d)}"
                for name, frame, d in zip(names, frames, sweep_dirs)
            ],
        ),
    ]
    for metric in metrics:
        if not is_displayable(runs, metric):
            continue
        caption = f"{METRICS[metric].title} by {rows} and {cols}, side by side"
        mean, ci = comparison_table(side_by_side, rows, "sweep · " + cols, metric)
        paths = write_table(mean, ci, metric, out_dir / f"{metric}_compared", caption)
        blocks += [
            Block("h2", caption),
            Block(
                "table",
                table=format_cells(mean, ci, METRICS[metric].decimals).reset_index(),
                links={"CSV": paths["csv"].name, "LaTeX": paths["tex"].name},
            ),
        ]
    figures = Figures()
    for kind, label in KINDS.items():
        title = f"{label.split(' (')[0]} per epoch: " + " vs ".join(names)
        blocks.append(
            figures.add(
                out_dir / f"curves_{kind}_compared",
                f"{title}; one colour per sweep",
                "plot_curves",
                curves,
                rows,
                cols,
                kind,
                title,
                "sweep",
            )
        )
    figures.draw(parallel)
    return write_documents(blocks, out_dir, "Comparison: " + " vs ".join(names), started)


def _search_section(results: Path, measured: pd.DataFrame, out_dir: Path, figures: Figures) -> list[Block]:
    """The best configuration found by a searching sweeper (Optuna) and the history of its trials."""
    found = OmegaConf.to_container(OmegaConf.load(results))
    best = [f"{markdown_code(key)} = {markdown_text(value)}" for key, value in (found.get("best_params") or {}).items()]
    value = found.get("best_value")
    return [
        Block("h2", "Search"),
        Block(
            "p",
            f"{len(measured)} trials with results; best objective (final validation accuracy): "
            + (f"{100 * value:.2f}%" if isinstance(value, (int, float)) else "–")
            + ", with:",
        ),
        Block("list", items=best or ["–"]),
        figures.add(
            out_dir / "search_history",
            "Search history: each trial and the best so far",
            "plot_search_history",
            measured,
        ),
    ]


def _published_section(
    path: Path, runs: pd.DataFrame, curves: pd.DataFrame, metrics: list[str], out_dir: Path
) -> list[Block]:
    table = load_published(path)
    runs, warning = on_published_data(table, runs)
    if warning:
        log.warning("warning: %s", warning)
        curves = curves[curves["run"].isin(runs["run"])] if not curves.empty else curves
    shutil.copy(path, out_dir / path.name)
    comparison = compare(table, runs, curves)
    comparison.to_csv(out_dir / f"published_{path.stem}.csv", index=False)
    source = source_of(table)
    shown = (
        comparison.assign(
            ours=[
                ("–" if pd.isna(m) else f"{m:.2f}" + (f" ± {c:.2f}" if pd.notna(c) else ""))
                for m, c in zip(comparison["ours"], comparison["ci95"])
            ],
            pi95=[
                "–" if pd.isna(p) else f"{m - p:.2f} – {m + p:.2f}"
                for m, p in zip(comparison["ours"], comparison["pi95"])
            ],
            delta=comparison["delta"].map(lambda d: "–" if pd.isna(d) else f"{d:+.2f}"),
            published=[
                f"{r} {v:g}" if r != "=" else f"{v:g}" for r, v in zip(comparison["relation"], comparison["published"])
            ],
            closest=comparison["closest"].map({True: "◀", False: ""}),
        )
        .drop(columns=["ci95", "relation"])
        .rename(columns={"pi95": "95% PI"})
    )
    if not comparison["setting"].astype(bool).any():
        shown = shown.drop(columns=["setting", "closest"])
    if not comparison["epoch"].astype(bool).any():
        shown = shown.drop(columns="epoch")
    protocol = table["protocol"].iloc[0] if "protocol" in table else ""
    at_once = concurrency(runs) if table["metric"].isin(TIMINGS).any() else 1
    noisy = (
        f" Our times come from runs of which up to {at_once} ran at the same time on shared cores: they are noisy"
        " and compare with the published ones only in ratio (the published hardware is unknown)."
        if at_once > 1
        else ""
    )
    return [
        Block("h2", f"Published vs reproduced: {source}"),
        *([Block("p", f"**{markdown_text(f'Warning: {warning}.')}**")] if warning else []),
        Block("p", f"From {markdown_link(path.name, path.name)}. {markdown_text(protocol)}".strip()),
        Block("p", markdown_text(summary_text(comparison, source) + noisy)),
        Block(
            "p",
            "ours: mean ± 95% CI of the mean over seeds; 95% PI: the prediction interval for one run of ours;"
            " delta = ours − published; verdict: whether the published value, one run, lies in our PI, read to the"
            " digits it was published with (92 stands for 91.5–92.5; for claims 'published ≥ x': whether our CI"
            " clears x). The method: docs/statistics.md.",
        ),
        Block("table", table=shown.astype(str), links={"CSV": f"published_{path.stem}.csv"}),
        *(
            block
            # candidate protocols are ranked on the final values (a value at an epoch is not one of a protocol's)
            for reading, distances in rankings(table[table["epoch"] == ""], runs, curves, metrics)
            for block in _protocols_section(distances, reading_label(source, reading), reading, out_dir, path.stem)
        ),
    ]


SHOWN_PROTOCOLS = 10


def _protocols_section(distances: pd.DataFrame, table: str, reading: str, out_dir: Path, stem: str) -> list[Block]:
    """The candidate protocols ranked by their distance to a published table (named ``table``), its values read
    as its own metric or as ``reading`` (one of READINGS); the ranking's CSV is written to ``out_dir``."""
    path = out_dir / (f"protocols_{stem}_as_{reading}.csv" if reading else f"protocols_{stem}.csv")
    distances.to_csv(path, index=False)
    shown = distances.head(SHOWN_PROTOCOLS).assign(
        rms=distances["rms"].map(lambda v: f"{v:.2f}"),
        log_score=distances["log_score"].map(lambda v: f"{v:.2f}"),
        expected_log_score=distances["expected_log_score"].map(lambda v: f"{v:.2f}"),
        max_abs_delta=distances["max_abs_delta"].map(lambda v: f"{v:.2f}"),
    )
    explained = (
        "Each candidate protocol is one combination of the settings this sweep varies beside the table's keys"
        f" ({', '.join(protocol_columns(distances))}): those the write-up leaves unstated, or a check of those"
        " it states; the number of epochs comes from each run's per-epoch metrics. They are ranked first by how"
        " many of the table's values they have runs for (measured), then by log_score, a proper score: the mean"
        " log predictive density of the published values under the protocol (higher: more likely; over the"
        " scored values, exact ones with two runs or more), beside expected_log_score, what a run of the"
        " protocol itself scores on average; rms: the root mean square of ours − published (for a claim '≥ x',"
        " only a shortfall counts); within_pi / within_ci: values inside our 95% prediction interval for one run"
        " / the CI of our mean (docs/statistics.md). "
        + (
            f"Here the published values are set beside our {READINGS[reading]} ({reading}), in case the write-up"
            " measured them on that split. "
            if reading
            else ""
        )
        + verdict_text(distances, table)
    )
    return [
        Block("h3", f"Which protocol explains {table}?"),
        Block("p", markdown_text(explained)),
        Block("table", table=shown.astype(str), links={"CSV (all protocols)": path.name}),
    ]


def _overview(sweep_dir: Path, runs: pd.DataFrame, skipped: list[str]) -> list[Block]:
    plan = read_plan(sweep_dir)
    planned = len(plan.runs) if plan is not None else 0
    found = f"{len(runs)} runs" + (f" of {planned} planned" if planned else "")
    items = [
        f"Sweep folder: {markdown_code(sweep_dir)}",
        f"Runs: {found} ({status_counts(runs['status'])})",
        f"Varied: {markdown_text(', '.join(varying(runs)) or 'nothing')}",
        f"Data: {markdown_text('; '.join(data_descriptions(sweep_dir)) or 'no run finished')}",
        f"Report built: {datetime.now(UTC).isoformat(timespec='seconds')}",
    ]
    provenance = plan.latest.provenance if plan is not None and plan.latest is not None else {}
    labels = {
        "command": "Command",
        "started": "Sweep started",
        "git": "Code (git)",
        "host": "Host",
        "versions": "Versions",
    }
    for key, label in labels.items():
        if key in provenance:
            value = provenance[key]
            value = ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else value
            items.append(f"{label}: " + (markdown_code(value) if key in ("command", "git") else markdown_text(value)))
    blocks = [Block("list", items=items)]
    not_done = runs[runs["status"] != RunStatus.completed]
    if not not_done.empty:
        blocks.append(Block("p", "Runs that did not complete (in the tables only if they have metrics):"))
        blocks.append(
            Block(
                "list",
                items=[
                    f"{markdown_code(run['run'])}: {markdown_text(run['status'])}"
                    + (f" — {markdown_text(run['error'])}" if isinstance(run.get("error"), str) else "")
                    for run in not_done.to_dict("records")
                ],
            )
        )
    warned = runs[runs["warnings"].notna()] if "warnings" in runs else runs.iloc[:0]
    if not warned.empty:
        blocks.append(Block("p", "Runs on data the network can learn little or nothing from (data warnings):"))
        items = [f"{markdown_code(run['run'])}: {markdown_text(run['warnings'])}" for run in warned.to_dict("records")]
        blocks.append(Block("list", items=items))
    if skipped:
        blocks += [
            Block("p", "Learning curves skipped (unreadable metrics.csv):"),
            Block("list", items=[markdown_text(item) for item in skipped]),
        ]
    return blocks
