"""Published numbers (``experiments/*.csv``) side by side with our runs.

A published table is a CSV with one row per published value: the metadata columns
``source, table, metric, unit, protocol, relation, value`` (``relation`` is ``=`` for a
reported number or ``>=`` for a claimed lower bound; ``unit`` is ``%`` or ``s``), and
any number of key columns named like run settings (``activation``, ``hidden``, ``lr``,
...) that say which configuration the value belongs to. Lines starting with ``#`` are
comments. Where the value comes from: ``source_file`` (the write-up's file), ``where`` (its table, figure or
section) and ``quote`` (the write-up's words that give it). ``epoch``: the epoch the value was read at (empty:
the end of training); such a value is compared with the runs' per-epoch metrics (their ``metrics.csv``).

A published value stands for the interval its written digits allow: "92" (a whole percent) for 91.5 to 92.5,
"12.34" for 12.335 to 12.345 (the column ``rounding``: half a unit in the last written place). Each is one run:
its verdict asks whether that interval overlaps the 95% prediction interval of one run of ours (mean ±
t·s'·sqrt(1 + 1/n), s' floored at the measurement's resolution; the CI of our mean is shown beside it). A claim
"≥ x" holds when our CI clears x. The method and its references: docs/statistics.md.

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
from nnexp.report.columns import setting_text
from nnexp.report.metrics import METRICS
from nnexp.report.runs import natural_key, varying
from nnexp.report.stats import Predictive, t_interval
from nnexp.setting_kinds import REPLICATES

META = (
    *("source", "table", "metric", "unit", "protocol", "relation", "value", "rounding", "note", "data"),
    *("source_file", "where", "quote", "epoch"),
)
UNIT_SCALE = {"%": 100.0, "s": 1.0, "": 1.0}
SINGLE = "1 run: no interval"  # the verdict of a value with one run
# The set an accuracy is counted on (runs' columns): one image of it is the accuracy's resolution
COUNTED_ON = {"test_acc": "n_test", "val_acc": "n_val", "train_acc": "n_train"}
UNMEASURED = "not measured"  # the verdict of a value at an epoch when the runs' per-epoch metrics are not at hand
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
    epochs = table.get("epoch", pd.Series("", index=table.index)).str.strip()
    bad = sorted(set(epochs[(epochs != "") & ~epochs.str.fullmatch(r"[1-9][0-9]*")]))
    if bad:
        raise ReportError(f"published table {path}: epoch(s) {bad} are not positive whole numbers (empty: final)")
    return table.assign(
        value=pd.to_numeric(table["value"]),
        epoch=epochs,
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
    """Whether a published value (± ``rounding``, see :func:`load_published`) lies within our interval
    ``mean ± half`` (a CI or a prediction interval): the two intervals overlap."""
    return not math.isnan(half) and mean - half <= published + rounding and published - rounding <= mean + half


def spread_floor(runs: pd.DataFrame, metric: str, unit: str, rounding: float) -> float:
    """The least spread credited to one cell's ``runs`` (docs/statistics.md): for an accuracy in %, one image of
    the set it is counted on (0.01 points for 10,000 test images); otherwise half a unit in the last digit the
    published value was written with."""
    column = COUNTED_ON.get(metric)
    if unit == "%" and column in runs:
        count = pd.to_numeric(runs[column], errors="coerce").max()
        if count > 0:
            return 100.0 / float(count)
    return rounding


def predictive(runs: pd.DataFrame, metric: str, unit: str, rounding: float) -> Predictive | None:
    """One new run's predictive distribution from ``runs`` (one cell) for ``metric`` in ``unit``."""
    values = runs[metric] * UNIT_SCALE.get(unit, 1.0) if metric in runs else pd.Series(dtype=float)
    return Predictive.of(values, spread_floor(runs, metric, unit, rounding))


def key_columns(published: pd.DataFrame) -> list[str]:
    return [c for c in published.columns if c not in META]


def matches(column: pd.Series, wanted: str) -> pd.Series:
    """Whether run values equal a published key value (numbers compared as numbers)."""
    try:
        return pd.to_numeric(column, errors="coerce") == float(wanted)
    except ValueError:
        return column.astype(str) == wanted


def _verdict(relation: str, published: float, mean: float, ci: float, pi: float, n: int, rounding: float) -> str:
    """A claim "≥ x" against our CI ``mean ± ci``; a published value (one run) against our prediction interval
    ``mean ± pi``."""
    if n == 0:
        return "no run"
    if relation == ">=":
        if math.isnan(ci):
            return "claim holds (1 run)" if mean >= published else "claim fails (1 run)"
        return "claim holds" if mean - ci >= published else ("claim fails" if mean + ci < published else "undecided")
    if math.isnan(pi):
        return SINGLE
    if within(mean, pi, published, rounding):
        return "within PI"
    return "published above PI" if published > mean + pi else "published below PI"


def _values(item: pd.Series, group: pd.DataFrame, curves: pd.DataFrame | None) -> pd.Series:
    """The values of a published item's metric in the runs ``group``: their final ones, or those after the item's
    ``epoch`` in ``curves`` (per-epoch metrics with a ``run`` and an ``epoch`` column, 1 = after the first epoch);
    none when ``curves`` lack them."""
    metric, epoch = item["metric"], item.get("epoch", "")
    if not epoch:
        return group[metric].dropna() if metric in group else pd.Series(dtype=float)
    if curves is None or curves.empty or metric not in curves:
        return pd.Series(dtype=float)
    return curves.loc[curves["run"].isin(group["run"]) & (curves["epoch"] == int(epoch)), metric].dropna()


def compare(published: pd.DataFrame, runs: pd.DataFrame, curves: pd.DataFrame | None = None) -> pd.DataFrame:
    """Published value vs our mean and 95% CI, one row per published value and extra setting.

    A value published at an ``epoch`` is set beside the runs' metric after that epoch, from ``curves`` (as
    :func:`~nnexp.report.runs.load_curves` gives them); without them its verdict is :data:`UNMEASURED`.

    Columns: the key columns, ``metric``, ``epoch`` (empty: final), ``setting`` (the other varied settings, or
    empty), ``published``, ``ours``, ``ci95`` (our mean's), ``pi95`` (one run's prediction interval), ``n``,
    ``delta`` (ours - published), ``verdict``,
    ``at_or_below`` (runs whose value is at most the published one), ``collapsed`` (runs ending below
    :data:`COLLAPSE` test accuracy),
    ``closest`` (the setting nearest the published value, for each published value).
    A published value with no matching run is kept, with verdict ``no run``.
    """
    keys = key_columns(published)
    unknown = [k for k in keys if k not in runs.columns]
    if unknown and not runs.empty:
        raise ReportError(f"published keys {unknown} are not settings of these runs")
    extra = varying(runs, exclude=(*keys, *REPLICATES)) if not runs.empty else []
    rows = []
    for index, item in published.iterrows():
        selected = runs
        for key in keys if not runs.empty else []:
            selected = selected[matches(selected[key], item[key])]
        scale = UNIT_SCALE.get(item["unit"], 1.0)
        groups = selected.groupby(extra, dropna=False, sort=False) if extra and len(selected) else [((), selected)]
        for setting, group in groups:
            setting = setting if isinstance(setting, tuple) else (setting,)
            values = _values(item, group, curves) * scale
            mean, half, n = t_interval(values) if len(values) else (math.nan, math.nan, 0)
            one_run = Predictive.of(values, spread_floor(group, item["metric"], item["unit"], item["rounding"]))
            pi = one_run.half_width() if one_run else math.nan
            verdict = _verdict(item["relation"], item["value"], mean, half, pi, n, item["rounding"])
            if n == 0 and len(group) and item.get("epoch", ""):
                verdict = UNMEASURED
            collapsed = int((group["test_acc"] < COLLAPSE).sum()) if "test_acc" in group else 0
            rows.append(
                {
                    "item": index,
                    **{k: item[k] for k in keys},
                    "metric": item["metric"],
                    "epoch": item.get("epoch", ""),
                    "setting": ", ".join(setting_text(name, value) for name, value in zip(extra, setting)),
                    "relation": item["relation"],
                    "published": item["value"],
                    "ours": mean,
                    "ci95": half,
                    "pi95": pi,
                    "n": n,
                    "delta": mean - item["value"],
                    "verdict": verdict,
                    "at_or_below": int((values <= item["value"]).sum()),  # runs as low as the published value
                    "collapsed": collapsed,  # runs below COLLAPSE test accuracy
                }
            )
    table = pd.DataFrame(rows)
    distance = table["delta"].abs().fillna(math.inf)
    table["closest"] = distance == distance.groupby(table["item"]).transform("min")
    table.loc[table["n"] == 0, "closest"] = False
    return table.sort_values(["item", "setting"], key=natural_key).drop(columns="item").reset_index(drop=True)


KINDS = ("accuracies", "timings", "other values")  # the verdicts every headline counts apart


def kind_of(metric: str) -> str:
    """Which of :data:`KINDS` a metric's published values are."""
    return KINDS[0] if "acc" in metric else (KINDS[1] if "second" in metric else KINDS[2])


def counted_apart(verdicts: pd.Series, metrics: pd.Series) -> str:
    """The verdicts counted per kind of value, e.g. 'accuracies (24): 13 within PI, 11 published below PI;
    timings (12): 12 published above PI'."""
    kinds = metrics.map(kind_of).to_numpy()
    parts = []
    for kind in KINDS:
        counts = verdicts[kinds == kind].value_counts()
        if len(counts):
            listed = ", ".join(f"{n} {v}" if v != SINGLE else f"{n} from one run each" for v, n in counts.items())
            parts.append(f"{kind} ({counts.sum()}): {listed}")
    return "; ".join(parts)


def summary_text(comparison: pd.DataFrame, source: str) -> str:
    """A few sentences on how the published values hold up."""
    best = comparison[comparison["closest"] | (comparison["n"] == 0)]
    text = f"{source}: {len(best)} published values — {counted_apart(best['verdict'], best['metric'])}."
    if (best["verdict"] == UNMEASURED).any():
        text += (
            " A value published at an epoch is compared with the runs' metric after that epoch (their per-epoch"
            " metrics.csv); where those are not at hand it is not measured: neither reproduced nor contradicted."
        )
    if (best["verdict"] == SINGLE).any():
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
        holds = best[best["verdict"].isin(["within PI", "claim holds"])]
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
