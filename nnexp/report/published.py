"""Published numbers (``experiments/*.csv``) side by side with our runs.

A published table is a CSV with one row per published value: the metadata columns
``source, table, metric, unit, protocol, relation, value`` (``relation`` is ``=`` for a
reported number or ``>=`` for a claimed lower bound; ``unit`` is ``%`` or ``s``), and
any number of key columns named like run settings (``activation``, ``hidden``, ``lr``,
...) that say which configuration the value belongs to. Lines starting with ``#`` are
comments.

A published value stands for the interval its written digits allow: "92" (a whole percent) for 91.5 to 92.5,
"12.34" for 12.335 to 12.345 (the column ``rounding``: half a unit in the last written place). It lies
within our CI when that interval and our CI overlap.

Each published value is joined to the runs whose settings match its keys. When the
runs also vary in settings the table does not name (an ablation, e.g. ``init``), each
such setting gets its own row, and the one closest to the published value is marked.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pandas as pd

from nnexp.errors import ReportError
from nnexp.report.metrics import METRICS
from nnexp.report.runs import natural_key, varying
from nnexp.report.stats import t_interval

META = ("source", "table", "metric", "unit", "protocol", "relation", "value", "rounding", "note", "data")
UNIT_SCALE = {"%": 100.0, "s": 1.0, "": 1.0}
SINGLE = "1 run: no CI"  # the verdict of a value with one run
COLLAPSE = 0.5  # a run "collapsed" when its test accuracy ends below this: fewer than half of the images right


def source_of(published: pd.DataFrame) -> str:
    """How a published table is named: its write-up and table, e.g. '003, V.D multi-class'."""
    return published["source"].iloc[0] + (f", {published['table'].iloc[0]}" if "table" in published else "")


def on_published_data(published: pd.DataFrame, runs: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """The runs to set beside ``published``: those on the data set its values were measured on (its ``data``
    column, e.g. ``mnist``), and one line saying what was left out; all runs, and the line saying the comparison
    is void, when none is on that data set. No line when the data sets match or are not known."""
    if "data" not in published or "data" not in runs:
        return runs, None
    measured_on = sorted(set(published["data"]) - {""})
    on_it = runs["data"].astype(str).isin(measured_on)
    others = sorted(set(runs.loc[~on_it, "data"].dropna().astype(str)))
    if not measured_on or not others:
        return runs, None
    said = f"the published values of {source_of(published)} were measured on {', '.join(measured_on)}"
    if not on_it.any():
        return (
            runs,
            f"{said}; these runs trained on {', '.join(others)}: the comparison says nothing about the write-up",
        )
    left = int((~on_it).sum())
    return runs[on_it], f"{said}: {left} run{'s' * (left != 1)} on {', '.join(others)} left out of the comparison"


def load_published(path: Path) -> pd.DataFrame:
    """A published table; its key columns are every column not in :data:`META`."""
    try:
        table = pd.read_csv(path, comment="#", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError) as exc:
        raise ReportError(f"published table {path}: {exc}") from None
    missing = [c for c in ("source", "metric", "unit", "value") if c not in table.columns]
    if missing:
        raise ReportError(f"published table {path} lacks the column(s) {', '.join(missing)}")
    unknown = set(table["metric"]) - set(METRICS)
    if unknown:
        raise ReportError(f"published table {path}: unknown metric(s) {sorted(unknown)}; allowed: {', '.join(METRICS)}")
    rounding = []
    for written in table["value"]:
        try:
            rounding.append(_half_last_place(written))
        except InvalidOperation:
            raise ReportError(f"published table {path}: value {written!r} is not a number") from None
    return table.assign(
        value=pd.to_numeric(table["value"]),
        rounding=rounding,
        relation=table.get("relation", "=").replace("", "="),
    )


def _half_last_place(written: str) -> float:
    """Half a unit in the last place of a number as written: '92' → 0.5, '12.34' → 0.005, '1.2e3' → 50."""
    exponent = Decimal(written.strip()).as_tuple().exponent
    if not isinstance(exponent, int):  # 'nan', 'inf'
        raise InvalidOperation(written)
    return 0.5 * 10.0**exponent


def within(mean: float, half: float, published: float, rounding: float) -> bool:
    """Whether a published value (± ``rounding``, see :func:`load_published`) lies within our CI
    ``mean ± half``: the two intervals overlap."""
    return not math.isnan(half) and mean - half <= published + rounding and published - rounding <= mean + half


def key_columns(published: pd.DataFrame) -> list[str]:
    return [c for c in published.columns if c not in META]


def matches(column: pd.Series, wanted: str) -> pd.Series:
    """Whether run values equal a published key value (numbers compared as numbers)."""
    try:
        return pd.to_numeric(column, errors="coerce") == float(wanted)
    except ValueError:
        return column.astype(str) == wanted


def _verdict(relation: str, published: float, mean: float, half: float, n: int, rounding: float) -> str:
    if n == 0:
        return "no run"
    if relation == ">=":
        if math.isnan(half):
            return "claim holds (1 run)" if mean >= published else "claim fails (1 run)"
        return (
            "claim holds" if mean - half >= published else ("claim fails" if mean + half < published else "undecided")
        )
    if math.isnan(half):
        return SINGLE
    if within(mean, half, published, rounding):
        return "within CI"
    return "published above CI" if published > mean + half else "published below CI"


def compare(published: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Published value vs our mean and 95% CI, one row per published value and extra setting.

    Columns: the key columns, ``setting`` (the other varied settings, or empty),
    ``published``, ``ours``, ``ci95``, ``n``, ``delta`` (ours - published), ``verdict``,
    ``at_or_below`` (runs whose value is at most the published one), ``collapsed`` (runs ending below
    :data:`COLLAPSE` test accuracy),
    ``closest`` (the setting nearest the published value, for each published value).
    A published value with no matching run is kept, with verdict ``no run``.
    """
    keys = key_columns(published)
    unknown = [k for k in keys if k not in runs.columns]
    if unknown and not runs.empty:
        raise ReportError(f"published keys {unknown} are not settings of these runs")
    extra = varying(runs, exclude=(*keys, "seed")) if not runs.empty else []
    rows = []
    for index, item in published.iterrows():
        selected = runs
        for key in keys if not runs.empty else []:
            selected = selected[matches(selected[key], item[key])]
        scale = UNIT_SCALE.get(item["unit"], 1.0)
        groups = selected.groupby(extra, dropna=False, sort=False) if extra and len(selected) else [((), selected)]
        for setting, group in groups:
            setting = setting if isinstance(setting, tuple) else (setting,)
            values = (group[item["metric"]] * scale).dropna() if item["metric"] in group else pd.Series(dtype=float)
            mean, half, n = t_interval(values) if len(values) else (math.nan, math.nan, 0)
            collapsed = int((group["test_acc"] < COLLAPSE).sum()) if "test_acc" in group else 0
            rows.append(
                {
                    "item": index,
                    **{k: item[k] for k in keys},
                    "metric": item["metric"],
                    "setting": ", ".join(f"{name}={value}" for name, value in zip(extra, setting)),
                    "relation": item["relation"],
                    "published": item["value"],
                    "ours": mean,
                    "ci95": half,
                    "n": n,
                    "delta": mean - item["value"],
                    "verdict": _verdict(item["relation"], item["value"], mean, half, n, item["rounding"]),
                    "at_or_below": int((values <= item["value"]).sum()),  # runs as low as the published value
                    "collapsed": collapsed,  # runs below COLLAPSE test accuracy
                }
            )
    table = pd.DataFrame(rows)
    distance = table["delta"].abs().fillna(math.inf)
    table["closest"] = distance == distance.groupby(table["item"]).transform("min")
    table.loc[table["n"] == 0, "closest"] = False
    return table.sort_values(["item", "setting"], key=natural_key).drop(columns="item").reset_index(drop=True)


def summary_text(comparison: pd.DataFrame, source: str) -> str:
    """A few sentences on how the published values hold up."""
    best = comparison[comparison["closest"] | (comparison["n"] == 0)]
    counts = best["verdict"].value_counts()
    parts = [f"{n} {verdict}" if verdict != SINGLE else f"{n} from one run each" for verdict, n in counts.items()]
    text = f"{source}: {len(best)} published values — " + ", ".join(parts) + "."
    if SINGLE in counts:
        text += " One run gives no interval: rerun with more seeds (e.g. seed=0,1,2,3,4) for a verdict."
    measured = best[best["n"] > 0]
    if len(measured):
        worst = measured.loc[measured["delta"].abs().idxmax()]
        keys = ", ".join(f"{k}={worst[k]}" for k in comparison.columns[: comparison.columns.get_loc("metric")])
        text += (
            f" Largest gap: {keys} — published {worst['published']:g}, ours {worst['ours']:.2f}"
            f" ({worst['delta']:+.2f})."
        )
    if comparison["setting"].astype(bool).any():
        holds = best[best["verdict"].isin(["within CI", "claim holds"])]
        text += (
            " Settings closest to the published values: "
            + "; ".join(
                f"{', '.join(f'{k}={r[k]}' for k in comparison.columns[: comparison.columns.get_loc('metric')])}"
                f" → {r['setting']} ({r['ours']:.2f} vs {r['published']:g}, {r['verdict']})"
                for _, r in best[best["n"] > 0].iterrows()
            )
            + f". {len(holds)} of {len(best)} are reproduced by some setting."
        )
    return text
