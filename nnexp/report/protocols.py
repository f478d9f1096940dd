"""Which of the candidate protocols explains a published table best.

A write-up leaves settings unstated (epochs, initialisation scale, input scaling, ...). A sweep that varies
them beside the table's own keys gives one *candidate protocol* per combination of those settings; and since
every run records its metrics after each epoch, a run of E epochs also gives the protocols of 1..E epochs
(when nothing in it depends on E: a constant learning rate and no early stopping).

For each candidate protocol and each published value (a *cell*), the cell's runs give the predictive distribution
of one new run (:class:`~nnexp.report.stats.Predictive`). Protocols are ranked by a proper score
(docs/statistics.md): the mean log predictive density of the table's exact published values (a claim "≥ x"
does not count in it), beside what a run of the protocol itself scores on average. Also given: the root mean
square of ``ours − published`` over the cells (for a claim, only a shortfall counts), and how many published
values lie within our 95% prediction interval (a claim: our CI reaches x) and within the CI of our mean.
"""

from __future__ import annotations

import math

import pandas as pd

from nnexp.report.columns import setting_text
from nnexp.report.published import UNIT_SCALE, key_columns, matches, predictive, within
from nnexp.report.runs import varying
from nnexp.report.stats import t_interval
from nnexp.results import RunStatus
from nnexp.setting_kinds import REPLICATES

EPOCHS = "epochs"
UNIT = " points"  # distances between accuracies in % (the only tables ranked: see rankable)
# Published test accuracies may have been measured on another split: the per-epoch accuracies a report can
# also read them as, with the words for them.
READINGS = {"train_acc": "training accuracies", "val_acc": "validation accuracies"}
SCORES = ("log_score", "expected_log_score")
COLUMNS = (
    "cells",
    "measured",
    "scored",
    "log_score",
    "expected_log_score",
    "within_pi",
    "within_ci",
    "rms",
    "max_abs_delta",
    "runs_per_cell",
)


def truncatable(runs: pd.DataFrame) -> pd.Series:
    """Whether each run's state after epoch e is that of the same run trained for e epochs: a constant
    learning rate and no early stopping (a cosine schedule or restored best weights depend on the total)."""
    constant = runs.get("lr_schedule", pd.Series("constant", index=runs.index)).fillna("constant") == "constant"
    patience = pd.to_numeric(runs.get("early_stopping.patience", pd.Series(0, index=runs.index))).fillna(0)
    return constant & (patience == 0)


def results_by_epochs(runs: pd.DataFrame, curves: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per run and epoch count: the run's settings with ``epochs`` set to that count and ``metric``
    after it (from the per-epoch curves where the run is :func:`truncatable`, else its final value only)."""
    settings = runs.drop(columns=[metric], errors="ignore")
    cut = truncatable(runs)
    per_epoch = pd.DataFrame()
    if not curves.empty and metric in curves:
        per_epoch = (
            curves.loc[curves["run"].isin(runs.loc[cut, "run"]), ["run", "epoch", metric]]
            .rename(columns={"epoch": EPOCHS})
            .merge(settings.drop(columns=[EPOCHS], errors="ignore"), on="run")
        )
    final = runs[~runs["run"].isin(per_epoch["run"])] if not per_epoch.empty else runs
    return pd.concat([_past_divergence(per_epoch, runs), final], ignore_index=True)


def _past_divergence(per_epoch: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """``per_epoch`` with each diverged run's last row repeated for every epoch count after it up to the run's
    own: trained for that many epochs, the run would have diverged all the same and ended there."""
    if per_epoch.empty or "status" not in runs or EPOCHS not in runs:
        return per_epoch
    diverged = runs.loc[runs["status"] == RunStatus.diverged, ["run", EPOCHS]]
    extra = []
    for run, planned in diverged.itertuples(index=False):
        rows = per_epoch[per_epoch["run"] == run]
        if rows.empty or pd.isna(planned):
            continue
        last = rows.loc[rows[EPOCHS].idxmax()]
        extra += [last.to_frame().T.assign(**{EPOCHS: e}) for e in range(int(last[EPOCHS]) + 1, int(planned) + 1)]
    return pd.concat([per_epoch, *extra], ignore_index=True).astype(per_epoch.dtypes.to_dict()) if extra else per_epoch


def protocol_settings(published: pd.DataFrame, results: pd.DataFrame) -> list[str]:
    """The settings that tell candidate protocols apart: those varying beside the table's keys and the replicates
    (the number of epochs last)."""
    settings = varying(results, exclude=(*key_columns(published), *REPLICATES))
    return sorted(settings, key=lambda name: name == EPOCHS)


def _cell(cell: pd.DataFrame, metric: str, item: pd.Series) -> dict[str, float]:
    """One published value (``item``) against the runs of one cell: ``n``, ``delta``, ``within_ci``,
    ``within_pi``, and for an exact value with two runs or more its ``log_score`` and ``expected_log_score``."""
    values = cell[metric] * UNIT_SCALE.get(item["unit"], 1.0)
    mean, half, n = t_interval(values)
    if n == 0:
        return {"n": 0}
    one_run = predictive(cell, metric, item["unit"], item["rounding"])
    published, rounding = item["value"], item["rounding"]
    if item["relation"] == ">=":  # a lower bound: only a shortfall is a distance
        reached = (mean + (0 if math.isnan(half) else half)) >= published
        return {"n": n, "delta": min(0.0, mean - published), "within_ci": reached, "within_pi": reached}
    found = {
        "n": n,
        "delta": mean - published,
        "within_ci": within(mean, half, published, rounding),
        "within_pi": one_run is not None and within(mean, one_run.half_width(), published, rounding),
    }
    if one_run is not None:
        found |= {"log_score": one_run.log_density(published), "expected_log_score": one_run.expected_log_density()}
    return found


def rankable(published: pd.DataFrame) -> bool:
    """Whether candidate protocols can be ranked against a published table: accuracies with at least one exact
    value (times compare only in ratio; a claim "≥ x" is met or not, whatever the protocol)."""
    return bool((published["unit"] == "%").all() and (published["relation"] == "=").any())


def readings(published: pd.DataFrame, metrics: list[str]) -> list[str]:
    """The metrics among ``metrics`` (a report's) that a table of published test accuracies is also read as."""
    if not published["metric"].eq("test_acc").all():
        return []
    return [metric for metric in metrics if metric in READINGS]


def reading_label(source: str, reading: str = "") -> str:
    """How a ranking names its table: '003, V.D' or '003, V.D, read as training accuracies'."""
    return f"{source}, read as {READINGS[reading]}" if reading else source


def rankings(
    published: pd.DataFrame, runs: pd.DataFrame, curves: pd.DataFrame, metrics: list[str], least: int = 2
) -> list[tuple[str, pd.DataFrame]]:
    """The candidate protocols of ``runs`` ranked against ``published`` (:func:`protocol_distances`) for each
    reading of its values: ``("", distances)`` for the table's own metric, then ``(reading, distances)`` for
    each of :func:`readings` that the runs record. None when the table is not :func:`rankable` or the runs
    give fewer than ``least`` candidate protocols (or none with runs)."""
    if runs.empty or not rankable(published):
        return []
    ranked = []
    for reading in ["", *readings(published, metrics)]:
        if reading and reading not in runs and reading not in curves:
            continue
        distances = protocol_distances(published, runs, curves, reading or None)
        if len(distances) >= least and (distances["measured"] > 0).any():
            ranked.append((reading, distances))
    return ranked


def protocol_columns(distances: pd.DataFrame) -> list[str]:
    """The settings that make up a protocol in a :func:`protocol_distances` frame."""
    return [c for c in distances.columns if c not in COLUMNS]


def protocol_distances(
    published: pd.DataFrame, runs: pd.DataFrame, curves: pd.DataFrame, metric: str | None = None
) -> pd.DataFrame:
    """One row per candidate protocol, most likely first among those measured on the most values: its settings,
    then ``cells`` (published values), ``measured`` (cells with runs), ``scored`` (exact values whose cells have
    two runs or more), ``log_score`` (the mean log predictive density of those published values, in the table's
    unit), ``expected_log_score`` (the same for a run of the protocol itself, on average), ``within_pi``,
    ``within_ci``, ``rms`` and ``max_abs_delta`` (in the table's unit, over the measured cells) and
    ``runs_per_cell`` (the fewest). ``metric`` reads the published values as another metric than the table's own
    (one of :data:`READINGS`)."""
    metric = metric or published["metric"].iloc[0]
    results = results_by_epochs(runs, curves, metric)
    settings = protocol_settings(published, results)
    keys = key_columns(published)
    rows = []
    groups = results.groupby(settings, dropna=False, sort=False) if settings else [((), results)]
    for setting, group in groups:
        setting = setting if isinstance(setting, tuple) else (setting,)
        cells = []
        for _, item in published.iterrows():
            selected = group
            for key in keys:
                selected = selected[matches(selected[key], item[key])]
            cells.append(_cell(selected, metric, item))
        found = pd.DataFrame([c for c in cells if c["n"]], columns=["n", "delta", "within_ci", "within_pi", *SCORES])
        deltas = found["delta"]
        rows.append(
            {
                **dict(zip(settings, setting)),
                "cells": len(published),
                "measured": len(found),
                "scored": int(found["log_score"].notna().sum()),
                **{score: found[score].mean() for score in SCORES},
                "within_pi": int(found["within_pi"].sum()),
                "within_ci": int(found["within_ci"].sum()),
                "rms": math.sqrt((deltas**2).mean()) if len(found) else math.nan,
                "max_abs_delta": deltas.abs().max() if len(found) else math.nan,
                "runs_per_cell": int(found["n"].min()) if len(found) else 0,
            }
        )
    table = pd.DataFrame(rows, columns=[*settings, *COLUMNS])
    # a protocol measured on fewer of the table's values (runs still missing) is not more likely for it
    order = ["measured", "scored", "log_score", "rms"]
    return table.sort_values(order, ascending=[False, False, False, True], na_position="last").reset_index(drop=True)


def describe(row: pd.Series, settings: list[str]) -> str:
    """'init_scale=1.0, epochs=3' for one protocol row."""
    return ", ".join(setting_text(name, row[name]) for name in settings) or "the only protocol run"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def verdict_text(distances: pd.DataFrame, table: str) -> str:
    """Under which protocol the published values of ``table`` (its :func:`reading_label`) are most likely, in a
    sentence or two: its log score beside what its own runs score, and how far the next protocol falls behind."""
    settings = protocol_columns(distances)
    measured = distances[distances["measured"] > 0]
    if measured.empty:
        return f"{table}: no candidate protocol has runs."
    best = measured.iloc[0]
    gaps = (
        f"{int(best['within_pi'])} of {int(best['measured'])} values within our 95% prediction interval for one run,"
        f" {int(best['within_ci'])} within the CI of our mean; RMS distance {best['rms']:.2f}{UNIT}"
        f" (largest gap {best['max_abs_delta']:.2f}{UNIT})"
    )
    if not best["scored"]:
        return f"{table}: no candidate protocol has two runs or more per value to score; the closest is" + (
            f" {describe(best, settings)}: {gaps}."
        )
    name = describe(best, settings) if settings else "the preset's protocol"
    under = (
        f"of {_count(len(measured), 'candidate protocol')}, the published values are most likely under {name}"
        if len(measured) > 1
        else f"the published values under {name}" + (" (the only candidate)" if settings else "")
    )
    text = (
        f"{table}: {under}: mean log predictive density {best['log_score']:.2f} per"
        f" value over"
        f" {int(best['scored'])} (a run of this protocol itself scores {best['expected_log_score']:.2f} on"
        f" average); {gaps}"
    )
    rivals = measured.iloc[1:]
    rivals = rivals[(rivals["measured"] == best["measured"]) & (rivals["scored"] == best["scored"])]
    if len(rivals):
        second = rivals.iloc[0]
        factor = math.exp(min(700.0, best["scored"] * (best["log_score"] - second["log_score"])))
        text += f". Next: {describe(second, settings)}, {second['log_score']:.2f}: " + (
            "as likely"
            if factor < 1.01
            else f"the published values (all together) are {factor:.3g} times less likely under it"
        )
    return text + "."
