"""The scoreboard: every published number of ``experiments/`` beside what the reproduction gives.

One row per published value (``published``, ``ours`` as mean, ``ci95``, ``pi95``, ``n``, ``delta``, ``verdict``:
the method is docs/statistics.md),
grouped by write-up, with the preset and the report it comes from; a value no run covers is listed as
"not run". The page also says what data the runs used (their content identity) and their compute time, and
for each published table of accuracies, which candidate protocol of each preset's runs explains it best.
"""

from __future__ import annotations

import math
from datetime import datetime
from lzma import LZMAError
from pathlib import Path

import pandas as pd

from nnexp.errors import ReportError
from nnexp.report.build import CURVES_FILE, CURVES_FILES_BEFORE, RUNS_FILE
from nnexp.report.document import Block, start_build, write_documents
from nnexp.report.escape import markdown_code, markdown_link, markdown_text
from nnexp.report.protocols import describe, protocol_columns, rankings, reading_label, verdict_text
from nnexp.report.published import KINDS, compare, counted_apart, key_columns, kind_of, load_published, source_of
from nnexp.report.runs import config_names, data_descriptions, load_curves, load_runs
from nnexp.report.stats import wilson_interval
from nnexp.reproduce.presets import preset_of, published_by, published_tables, report_metrics
from nnexp.results import FINISHED, SUMMARY_FILE, read_summary

COLUMNS = [
    "writeup",
    "table",
    "setting",
    "metric",
    "unit",
    "relation",
    "published",
    "ours",
    "ci95",
    "pi95",
    "n",
    "delta",
    "verdict",
    "at_or_below",
    "collapsed",
    "collapse_p",
    "collapse_low",
    "collapse_high",
    "preset",
    "report",
]
SCOREBOARD = "scoreboard"
FINDING_COLUMNS = [
    "writeup",
    "table",
    "preset",
    "reading",
    "protocols",
    "best",
    "log_score",
    "expected_log_score",
    "rms",
    "within_pi",
    "within_ci",
    "measured",
    "cells",
    "verdict",
]


def _runs_of(sweep: Path) -> pd.DataFrame:
    """The finished runs of a sweep folder; of a curated report folder (no run folders, its ``runs.csv``: e.g.
    ``--out reports``), those its table lists (without their per-epoch metrics)."""
    runs = load_runs(sweep) if sweep.is_dir() else pd.DataFrame()
    if runs.empty and (sweep / RUNS_FILE).is_file():
        runs = pd.read_csv(sweep / RUNS_FILE)
    return runs[runs["status"].isin(FINISHED)] if not runs.empty else runs


def _curves_of(sweep: Path, runs: pd.DataFrame) -> pd.DataFrame:
    """The per-epoch metrics of ``runs`` (:func:`_runs_of`) with their settings: from their run folders, else from a
    curated report's ``CURVES_FILE``; empty when neither has them."""
    if runs.empty:
        return pd.DataFrame()
    if any(sweep.glob(f"*/{SUMMARY_FILE}")):
        return load_curves(sweep, runs)[0]
    shipped = next((sweep / name for name in (CURVES_FILE, *CURVES_FILES_BEFORE) if (sweep / name).is_file()), None)
    if shipped is None:
        return pd.DataFrame()
    try:
        curves = pd.read_csv(shipped)
    except (OSError, EOFError, LZMAError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        raise ReportError(f"{shipped} cannot be read ({type(exc).__name__}: {exc}); rebuild that report") from None
    return curves.merge(runs[[*config_names(runs), "run"]], on="run")


def _described(sweep: Path) -> list[str]:
    """What data the runs trained on: as their summaries say, else as a curated ``runs.csv`` counts it."""
    described = data_descriptions(sweep)
    runs = _runs_of(sweep) if not described else pd.DataFrame()
    if runs.empty or not {"data", "n_train", "n_val", "n_test"} <= set(runs):
        return described
    sizes = runs[["data", "n_train", "n_val", "n_test"]].drop_duplicates()
    return [f"{d} ({t:,} training / {v:,} validation / {e:,} test images)" for d, t, v, e in sizes.itertuples(False)]


def score(sweeps: dict[str, Path]) -> pd.DataFrame:
    """One row per published value: ours from the sweep of the preset that reproduces its table (``sweeps`` by
    preset), "not run" where there is none (``report``, the link to the preset's report, is filled in by
    :func:`write_scoreboard`)."""
    rows, loaded = [], {}
    for path in published_tables():
        table = load_published(path)
        preset = preset_of(path, list(sweeps))
        if preset and preset not in loaded:
            runs = _runs_of(sweeps[preset])
            loaded[preset] = (runs, _curves_of(sweeps[preset], runs))
        runs, curves = loaded[preset] if preset else (pd.DataFrame(), pd.DataFrame())
        keys = key_columns(table)
        if runs.empty:
            comparison = table[keys].assign(
                metric=table["metric"],
                relation=table["relation"],
                published=table["value"],
                ours=math.nan,
                ci95=math.nan,
                pi95=math.nan,
                n=0,
                delta=math.nan,
                verdict="not run",
                at_or_below=0,
                collapsed=0,
            )
        else:
            comparison = compare(table, runs, curves)
            comparison = comparison[comparison["closest"] | (comparison["n"] == 0)]
            comparison.loc[comparison["verdict"] == "no run", "verdict"] = "not run"
        for (_, item), (_, ours) in zip(table.iterrows(), comparison.iterrows()):
            low, high = wilson_interval(int(ours["collapsed"]), int(ours["n"]))
            rows.append(
                {
                    "writeup": item["source"],
                    "table": item.get("table", ""),
                    "setting": ", ".join(
                        [
                            *(f"{key}={item[key]}" for key in keys),
                            *([f"epoch={item['epoch']}"] if item["epoch"] else []),
                        ]
                    ),
                    "metric": item["metric"],
                    "unit": item["unit"],
                    "relation": item["relation"],
                    "published": item["value"],
                    **{
                        k: ours[k]
                        for k in ("ours", "ci95", "pi95", "n", "delta", "verdict", "at_or_below", "collapsed")
                    },
                    "collapse_p": ours["collapsed"] / ours["n"] if ours["n"] else math.nan,
                    "collapse_low": low,
                    "collapse_high": high,
                    "preset": preset if not runs.empty else "",
                    "report": "",
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def protocol_findings(sweeps: dict[str, Path]) -> pd.DataFrame:
    """One row per published table of accuracies, preset whose runs give candidate protocols for it (those of
    the settings it varies beside the table's keys, and epochs; a single one is scored too), and reading of the
    values (``reading``: empty for the table's own metric, else one of READINGS the preset's report shows):
    ``writeup``, ``table``, ``preset``, ``reading``, ``protocols`` (how many have runs), ``best`` (the most likely
    one's settings), ``log_score``, ``expected_log_score``, ``rms``, ``within_pi``, ``within_ci``, ``measured``,
    ``cells`` and ``verdict`` (a sentence: :func:`verdict_text`)."""
    rows, loaded = [], {}
    for path in published_tables():
        table = load_published(path)
        for preset, sweep in sweeps.items():
            if path.name not in {p.name for p in published_by(preset)}:
                continue
            if preset not in loaded:
                runs = _runs_of(sweep)
                loaded[preset] = (runs, _curves_of(sweep, runs))
            runs, curves = loaded[preset]
            final = table[table["epoch"] == ""]  # a value at a given epoch is no candidate protocol's final value
            for reading, distances in rankings(final, runs, curves, report_metrics(preset), least=1):
                best = distances[distances["measured"] > 0].iloc[0]
                rows.append(
                    {
                        "writeup": table["source"].iloc[0],
                        "table": table["table"].iloc[0] if "table" in table else "",
                        "preset": preset,
                        "reading": reading,
                        "protocols": int((distances["measured"] > 0).sum()),
                        "best": describe(best, protocol_columns(distances)),
                        **{k: float(best[k]) for k in ("log_score", "expected_log_score", "rms")},
                        **{k: int(best[k]) for k in ("within_pi", "within_ci", "measured", "cells")},
                        "verdict": verdict_text(distances, reading_label(source_of(table), reading)),
                    }
                )
    return pd.DataFrame(rows, columns=FINDING_COLUMNS)


def run_intervals(sweeps: dict[str, Path]) -> list[tuple[datetime, datetime]]:
    """When each finished run of ``sweeps`` ran: its (start, finish) from its summary, or from a curated report's
    runs.csv."""
    intervals = []
    for sweep in sweeps.values():
        if not any(sweep.glob(f"*/{SUMMARY_FILE}")):  # a curated report: its runs.csv's times
            runs = _runs_of(sweep)
            if {"started", "finished"} <= set(runs):
                finished = runs[runs["status"].isin(FINISHED)] if "status" in runs else runs
                times = zip(pd.to_datetime(finished["started"]), pd.to_datetime(finished["finished"]))
                intervals += [(start.to_pydatetime(), end.to_pydatetime()) for start, end in times]
            continue
        for path in sweep.glob(f"*/{SUMMARY_FILE}"):
            try:
                summary = read_summary(path)
                start, end = (datetime.fromisoformat(summary[k]) for k in ("started", "finished"))
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if summary.get("status") in FINISHED:
                intervals.append((start, end))
    return intervals


def compute_seconds(intervals: list[tuple[datetime, datetime]]) -> tuple[float, float]:
    """The wall-clock time during which at least one run was running (the union of ``intervals``), and the runs'
    times added up (runs in parallel each counted)."""
    summed = sum((end - start).total_seconds() for start, end in intervals)
    wall = 0.0
    reached: datetime | None = None  # the end of the union so far
    for start, end in sorted(intervals):
        if reached is None or start > reached:
            wall += (end - start).total_seconds()
            reached = end
        elif end > reached:
            wall += (end - reached).total_seconds()
            reached = end
    return wall, summed


def _number(value: float, digits: int = 2) -> str:
    return "–" if pd.isna(value) else f"{value:.{digits}f}"


def writeup_summary(board: pd.DataFrame) -> str:
    """'36 published values: accuracies (24): 13 within PI, ...; timings (12): ... Largest gap among the
    accuracies: ...; among the timings: ...' (each kind of value apart)."""
    text = f"{len(board)} published values: {counted_apart(board['verdict'], board['metric'])}."
    measured = board[board["n"] > 0]
    kinds = measured["metric"].map(kind_of)
    gaps = []
    for kind in KINDS:
        if (kinds == kind).any():
            worst = measured.loc[measured.loc[kinds == kind, "delta"].abs().idxmax()]
            gaps.append(
                f"among the {kind}: {worst['table']}, {worst['setting']}: published {worst['published']:g}"
                f"{worst['unit']}, ours {worst['ours']:.2f}{worst['unit']} ({worst['delta']:+.2f})"
            )
    if gaps:
        text += " Largest gap " + "; ".join(gaps) + "."
    if (board["n"] == 1).any():
        text += " Where n is 1, one run gives no interval: its verdict compares one number with the published one."
    return text


def write_scoreboard(
    board: pd.DataFrame,
    out: Path,
    sweeps: dict[str, Path],
    command: str,
    findings: pd.DataFrame,
    links: dict[str, str],
) -> Path:
    """``scoreboard.csv``, ``scoreboard_protocols.csv`` (``findings``), ``scoreboard.md`` and ``scoreboard.html``
    in ``out``; the Markdown path. ``links``: each preset's report, relative to ``out``."""
    started = start_build(out)
    board = board.assign(report=[links.get(preset, "") for preset in board["preset"]])
    board.to_csv(out / f"{SCOREBOARD}.csv", index=False)
    findings.to_csv(out / f"{SCOREBOARD}_protocols.csv", index=False)
    wall, summed = compute_seconds(run_intervals(sweeps))
    blocks = [
        Block("h1", "Scoreboard: the published numbers, reproduced"),
        Block(
            "list",
            items=[
                "Data: "
                + markdown_text("; ".join(dict.fromkeys(d for s in sweeps.values() for d in _described(s))) or "none"),
                f"Published values: {len(board)} ({counted_apart(board['verdict'], board['metric'])})",
                f"Compute: {wall / 3600:.2f} h of wall-clock time with runs in progress ({wall:.0f} s, the union of"
                f" the runs' start-to-finish intervals); {summed / 3600:.1f} h of runs ({summed:.0f} s, runs in"
                " parallel each counted)",
                f"Command: {markdown_code(command)}",
                "ours: mean ± 95% CI of the mean over seeds (n runs); 95% PI: the prediction interval for one run"
                " of our protocol (mean ± t·s'·√(1 + 1/n), s' at least one test image, 0.01 points, for an"
                " accuracy); delta = ours − published; verdict: whether the published value, one run, lies in our"
                " PI, read to the digits it was published with (92 stands for 91.5–92.5; for a claim 'published ≥"
                " x', whether our CI clears x). Accuracies and timings are counted apart. The method:"
                " docs/statistics.md.",
                "runs ≤ published: how many of our runs end at or below the published value (could an unlucky run"
                " give it?); collapsed: runs ending below 50% test accuracy, with the 95% (Wilson) interval of the"
                " probability that a run collapses.",
            ],
        ),
    ]
    for writeup, rows in board.groupby("writeup", sort=True):
        blocks += [Block("h2", f"Write-up {writeup}"), Block("p", markdown_text(writeup_summary(rows)))]
        for preset, report in rows[["preset", "report"]].drop_duplicates().itertuples(index=False):
            if preset:
                link = f": {markdown_link('its report', report)}" if report else ""
                blocks.append(Block("p", f"From the preset {markdown_code(preset)}{link}."))
        shown = rows.assign(
            ours=[
                f"{_number(m)} ± {_number(c)}" if not pd.isna(c) else _number(m)
                for m, c in zip(rows["ours"], rows["ci95"])
            ],
            published=[f"{r} {p:g}" if r != "=" else f"{p:g}" for r, p in zip(rows["relation"], rows["published"])],
            pi=[
                f"{_number(m - p)} – {_number(m + p)}" if not pd.isna(p) else "–"
                for m, p in zip(rows["ours"], rows["pi95"])
            ],
            delta=rows["delta"].map(_number),
            below=[f"{k}/{n}" if n else "–" for k, n in zip(rows["at_or_below"], rows["n"])],
            collapse=[
                f"{k}/{n} ({100 * lo:.0f}–{100 * hi:.0f}%)" if n else "–"
                for k, n, lo, hi in zip(rows["collapsed"], rows["n"], rows["collapse_low"], rows["collapse_high"])
            ],
        ).rename(columns={"pi": "95% PI", "below": "runs ≤ published", "collapse": "collapsed (< 50%)"})
        shown = shown[
            ["table", "setting", "metric", "unit", "published", "ours", "95% PI", "n", "delta", "verdict"]
            + ["runs ≤ published"]
            + (["collapsed (< 50%)"] if (rows["metric"] == "test_acc").any() else [])
        ]
        blocks.append(Block("table", table=shown.astype(str), links={"CSV": f"{SCOREBOARD}.csv"}))
        found = findings[findings["writeup"] == writeup]
        if len(found):
            blocks += [
                Block(
                    "p",
                    "Which protocol explains the published values? Each preset's runs give one candidate protocol"
                    " per combination of the settings they vary beside a table's keys (epochs from the per-epoch"
                    " metrics where the runs' folders hold them), ranked first by how many of the table's values"
                    " they have runs for, then by a proper score: the mean log predictive density of the published"
                    " values under the protocol (higher: more likely), beside what a run of the protocol itself"
                    " scores on average"
                    f" ({markdown_link('CSV', f'{SCOREBOARD}_protocols.csv')}):",
                ),
                Block(
                    "list",
                    items=[
                        markdown_code(item.preset)
                        + (f" ({markdown_link('its report', links[item.preset])})" if item.preset in links else "")
                        + f" — {markdown_text(item.verdict)}"
                        for item in found.itertuples(index=False)
                    ],
                ),
            ]
    return write_documents(blocks, out, "Scoreboard", started, name=SCOREBOARD)
