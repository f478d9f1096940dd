"""The Markdown summary of the stacking benchmark (:mod:`nnexp.bench.stacking`): agreement checks and speed-ups."""

from __future__ import annotations

import pandas as pd

SEPARATE = "separate"


def _figure(row: pd.Series) -> str:
    """Per-member milliseconds and the speed-up with its range, e.g. ``2.71 ms, 9.9x (8.1-11.0)``."""
    return f"{1e3 * row.sec_per_member:.3g} ms, {row.speedup:.2g}x ({row.speedup_low:.2g}-{row.speedup_high:.2g})"


def _case_table(frame: pd.DataFrame) -> list[str]:
    """Rows k; per thread count and row layout (shared, own), the fastest variant's per-member time and speed-up."""
    one = frame[frame["procs"] == 1]
    threads = sorted(int(t) for t in one["threads"].unique())
    layouts = [layout for layout in ("shared", "own") if one["variant"].str.startswith(layout).any()]
    columns = [(t, layout) for t in threads for layout in layouts]
    separate = one[one["variant"] == SEPARATE].set_index("threads")
    lines = [
        "| k | " + " | ".join(f"{t} thread{'s' if t > 1 else ''}, {layout} rows" for t, layout in columns) + " |",
        "| --- |" + " --- |" * len(columns),
        "| 1 (separate) | " + " | ".join(f"{1e3 * separate.loc[t, 'sec_median']:.3g} ms" for t, _ in columns) + " |",
    ]
    for k, rows in one[one["variant"] != SEPARATE].groupby("k"):
        cells = []
        for t, layout in columns:
            at = rows[(rows["threads"] == t) & rows["variant"].str.startswith(layout)]
            best = at.loc[at["sec_median"].idxmin()]
            cells.append(f"{best.variant.split('-')[1]}: {_figure(best)}")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    busiest = frame["background_cpus"].max()
    return [*lines, "", f"Other processes kept up to {busiest:.2f} CPUs busy during these measurements."]


def _pairs_table(frame: pd.DataFrame) -> list[str]:
    pairs = frame[frame["procs"] == 2]
    if pairs.empty:
        return []
    lines = [
        "Two processes side by side, 1 BLAS thread each (a 2-worker sweep); per member = wall time of a step / 2 k:",
        "",
        "| case | separate, per member | variant, k per process | per member, speed-up (range) |",
        "| --- | --- | --- | --- |",
    ]
    for case, rows in pairs.groupby("case", sort=False):
        separate = rows[rows["variant"] == SEPARATE].iloc[0]
        for row in rows[rows["variant"] != SEPARATE].itertuples():
            lines.append(
                f"| {case} | {1e3 * separate.sec_median / 2:.3g} ms | {row.variant}, {row.k} |"
                f" {1e3 * row.sec_median / (2 * row.k):.3g} ms, {row.speedup:.2g}x"
                f" ({row.speedup_low:.2g}-{row.speedup_high:.2g}) |"
            )
    return [*lines, ""]


def summary(frame: pd.DataFrame, checks: list[tuple], cases: dict[str, tuple[str, int]], environment: str) -> str:
    """The report: ``checks`` (case, variant, k, relative difference) and ``frame`` (see ``with_speedups``);
    ``cases`` maps a case's name to its presets and pack size."""
    lines = [
        "# Packs: k networks stacked into one model against k separate runs",
        "",
        environment,
        "",
        "One plain-SGD step (forward, backward, update), float32, fixed batch. Speed-up = k x (step of one network"
        " alone, nnexp's `step_alone`) / (step of the stacked model); the range pairs the slowest and the"
        " fastest of the timed blocks. `shared`: members read the same rows (one GEMM for the first layer);"
        " `own`: each member its own rows; `batched`/`loop`: later layers as one batched matmul or a loop over"
        " members. The machine is shared: `background_cpus` in stacking.csv is the CPU time other processes took.",
        "",
        "## Agreement: updated weights, stacked against separate (largest difference / member's parameter scale)",
        "",
        "| case | variant | k | difference | tolerance |",
        "| --- | --- | --- | --- | --- |",
        *(f"| {case} | {variant} | {k} | {diff:.1e} | {limit:.1e} |" for case, variant, k, diff, limit in checks),
        "",
    ]
    for case, rows in frame.groupby("case", sort=False):
        presets, pack = cases[case]
        lines += [f"## {case} — {presets}; pack of up to {pack}", "", *_case_table(rows), ""]
    lines += ["## 2 processes", "", *_pairs_table(frame)]
    return "\n".join(lines) + "\n"
