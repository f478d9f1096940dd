"""Reading a sweep folder from disk into tidy pandas frames.

A run folder is any folder holding a ``summary.json``, a ``metrics.csv`` or a
Hydra ``.hydra/config.yaml`` (not the ``damaged-*`` folders a damaged run's files were set aside in);
its configuration comes from the summary (resolved at run time) or, for a run that did not finish,
from Hydra's saved config.
"""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import OmegaConf

from nnexp.report.columns import config_columns
from nnexp.results import FINISHED, METRICS_FILE, OUTCOME_COLUMNS, SUMMARY_FILE, RunStatus, RunSummary, read_summary
from nnexp.results.files import DAMAGED_PREFIX, damage
from nnexp.results.plan_file import planned_runs
from nnexp.results.summary import metrics_definition_of
from nnexp.tracking.folders import TRACKER_FOLDERS

log = logging.getLogger(__name__)

HYDRA_CONFIG = Path(".hydra") / "config.yaml"


def find_run_dirs(sweep_dir: Path) -> list[Path]:
    """Every run folder under (or equal to) ``sweep_dir`` but those set aside as damaged, sorted by path."""
    found = {p.parent for name in (SUMMARY_FILE, METRICS_FILE) for p in sweep_dir.rglob(name)}
    found |= {p.parent.parent for p in sweep_dir.rglob(HYDRA_CONFIG.name) if p.parent.name == HYDRA_CONFIG.parent.name}
    return sorted(d for d in found if not _set_apart(d.relative_to(sweep_dir).parts))


def _set_apart(parts: tuple[str, ...]) -> bool:
    """Whether a folder (its ``parts`` below the sweep folder) holds no run of it: a damaged run's files set aside, or
    a tracker's log (MLflow's copies of summary.json among its artifacts)."""
    return any(part.startswith(DAMAGED_PREFIX) for part in parts) or bool(parts and parts[0] in TRACKER_FOLDERS)


# A column of the data's content (the start of its digest): runs on other data are never pooled as one setting's
DATA_CONTENT = "data.content"
# A column of what the training metrics mean (nnexp.training.spec.METRICS_DEFINITION; 1 where a summary does not
# say): runs of two definitions are never pooled either
METRICS_DEFINITION_COLUMN = "metrics_definition"


def _read_run(run_dir: Path, sweep_dir: Path) -> dict[str, Any]:
    row: dict[str, Any] = {"run": str(run_dir.relative_to(sweep_dir)) or "."}
    summary_path = run_dir / SUMMARY_FILE
    if summary_path.exists():
        try:
            summary = read_summary(summary_path)
        except (ValueError, UnicodeDecodeError) as exc:
            problem = (
                "is not valid JSON"
                if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError))
                else "is not a summary"
            )
            return {**row, "status": RunStatus.unreadable.value, "error": f"{SUMMARY_FILE} {problem} ({exc})"}
        config = summary.pop("config", {})
        summary.pop("versions", None)
        row.update(config_columns(config))
        identity = summary.get("data_identity")
        if isinstance(identity, dict) and identity.get("digest"):  # other files under one path: other data
            row[DATA_CONTENT] = str(identity["digest"])[:8]
        row[METRICS_DEFINITION_COLUMN] = metrics_definition_of(summary.get("metrics_definition"))
        reason = damage(run_dir, RunSummary.from_dict(summary)) if summary.get("status") in FINISHED else None
        if reason is not None:  # its metrics are not a result
            return {**row, "status": RunStatus.damaged.value, "error": reason}
        row.update({k: v for k, v in summary.items() if not isinstance(v, (list, dict))})
        warnings = summary.get("warnings")
        if isinstance(warnings, list) and warnings:  # the data's (nnexp.data.degenerate): one column, "; " between
            row["warnings"] = "; ".join(str(warning) for warning in warnings)
        return row
    if (run_dir / HYDRA_CONFIG).exists():
        try:
            saved = OmegaConf.to_container(OmegaConf.load(run_dir / HYDRA_CONFIG), resolve=False)
        except Exception as exc:  # YAML or OmegaConf errors of a damaged file: the run is still listed
            return {**row, "status": RunStatus.unreadable.value, "error": f"{HYDRA_CONFIG} cannot be read ({exc})"}
        if isinstance(saved, dict):
            row.update(config_columns(saved))
    row["status"] = RunStatus.incomplete.value
    return row


def data_descriptions(sweep_dir: Path) -> list[str]:
    """What data the finished runs below ``sweep_dir`` trained on, as their summaries describe it (each once),
    e.g. "MNIST, official files (60,000 / 10,000)"."""
    found: dict[str, None] = {}
    for path in sorted(sweep_dir.rglob(SUMMARY_FILE)):
        try:
            summary = read_summary(path)
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if summary.get("status") in FINISHED:
            identity = summary.get("data_identity")
            found.setdefault(identity.get("description", "unknown") if isinstance(identity, dict) else "unknown")
    return list(found)


def load_runs(sweep_dir: Path) -> pd.DataFrame:
    """One row per run: ``run`` (folder), ``status``, config columns, summary metrics.

    Runs the sweep planned but that have no folder yet appear with status ``missing``.
    """
    rows = [_read_run(d, sweep_dir) for d in find_run_dirs(sweep_dir)]
    found = {row["run"] for row in rows}
    for folder in planned_runs(sweep_dir):
        if folder not in found:
            rows.append({"run": folder, "status": RunStatus.missing.value})
    runs = _one_per_configuration(pd.DataFrame(rows))
    if METRICS_DEFINITION_COLUMN in runs and runs[METRICS_DEFINITION_COLUMN].nunique() > 1:
        log.warning(
            "runs of %d definitions of the training metrics (column %s: 1 from a pass of their own, as nnexp computed"
            " them before 2, from training): reported apart, never pooled",
            runs[METRICS_DEFINITION_COLUMN].nunique(),
            METRICS_DEFINITION_COLUMN,
        )
    return runs


def _one_per_configuration(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs without repeats of one configuration (the same fingerprint, e.g. a folder made by a launcher
    that does not plan): a repeat is not another seed. The first folder of each finished configuration stays."""
    if runs.empty or "fingerprint" not in runs:
        return runs
    finished = runs["status"].isin([status.value for status in FINISHED]) & runs["fingerprint"].fillna("").ne("")
    repeated = finished & runs["fingerprint"].where(finished).duplicated()
    for run in runs.loc[repeated, "run"]:
        log.warning("%s repeats the configuration of another run: counted once", run)
    return runs[~repeated].reset_index(drop=True)


def load_curves(sweep_dir: Path, runs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Per-epoch metrics of every run, with the run's config columns; and the CSVs it had to skip."""
    frames, skipped = [], []
    for run in runs.itertuples(index=False):
        path = sweep_dir / run.run / METRICS_FILE
        if not path.exists():
            continue
        try:
            epochs = pd.read_csv(path)
            missing = [c for c in ("epoch", "train_loss", "val_loss", "train_acc", "val_acc") if c not in epochs]
            if missing:
                raise ValueError(f"no column {', '.join(missing)}")
            epochs[list(epochs.columns)] = epochs.apply(pd.to_numeric, errors="raise")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
            log.warning("skipping unreadable %s: %s", path, exc)
            skipped.append(f"{run.run}/{METRICS_FILE}: {str(exc).splitlines()[0]}")
            continue
        frames.append(epochs.assign(run=run.run))
    if not frames:
        return pd.DataFrame(), skipped
    curves = pd.concat(frames, ignore_index=True).merge(runs[[*config_names(runs), "run"]], on="run")
    return curves, skipped


def config_names(runs: pd.DataFrame) -> list[str]:
    """The config columns of a runs frame (everything that is not an outcome)."""
    outcome = set(OUTCOME_COLUMNS)
    return [c for c in runs.columns if c not in outcome and c != "run"]


def varying(runs: pd.DataFrame, exclude: tuple[str, ...] = ()) -> list[str]:
    """Config columns with more than one value among the runs, in column order; null is a value (``data.train_limit``
    null, all images, against 1000)."""
    return [c for c in config_names(runs) if c not in exclude and runs[c].map(_value_key).nunique() > 1]


def _value_key(value: Any) -> str:
    return "null" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def natural_key(values: pd.Series) -> pd.Series:
    """Sort key ordering '32' < '128' and '128-64' < '256': numbers compared as numbers."""

    def key(value: Any) -> tuple:
        parts = re.split(r"(\d+(?:\.\d+)?)", str(value))
        return tuple((0, float(p), "") if re.fullmatch(r"\d+(?:\.\d+)?", p) else (1, 0.0, p) for p in parts if p)

    return values.map(key)
