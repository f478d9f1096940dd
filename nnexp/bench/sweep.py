"""Sweep benchmark: wall time of one sweep with 1 worker and with N, and where the time goes.

``python -m nnexp.bench_sweep [overrides...]`` runs the same sweep (by default the main
12-run grid, ``activation=sigmoid,relu,tanh hidden=32,64,128,256``, plus the given
overrides, e.g. ``data=fashion_mnist``) once per worker count, exactly as a user would
(``python -m nnexp.run -m ... hydra.launcher.n_jobs=N``), into temporary folders. From
the runs' start and finish times it splits each sweep's wall time into the part before the
first run (start-up, planning, worker start), the runs, and the part after the last run
(report, exit), and it computes what the measured runs allow: the shortest possible runs
phase on N workers when runs start in the grid's order (Hydra's own launchers, or
``hydra.launcher.order=given``) and when the longest start first (nnexp's default
launcher). Results: ``sweep.csv``, ``sweep_runs.csv``, ``sweep.png`` and ``sweep.md`` in
``--out``.
"""

from __future__ import annotations

import argparse
import heapq
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from nnexp.bench.cli import positive_ints
from nnexp.results import read_summary
from nnexp.sweep.plan import latest_jobs

GRID = "activation=sigmoid,relu,tanh hidden=32,64,128,256"
SWEEP_COLUMNS = ["repeat", "workers", "runs", "wall_s", "before_runs_s", "runs_s", "after_runs_s", "work_s"]


def makespan(durations: list[float], workers: int) -> float:
    """Finish time of the last job when ``durations`` start in the given order, each on the first free worker."""
    free = [0.0] * workers
    for duration in durations:
        heapq.heapreplace(free, free[0] + duration)  # free[0] is the earliest free worker
    return max(free)


def makespan_longest_first(durations: list[float], workers: int) -> float:
    """Finish time of the last job when the longest jobs start first."""
    return makespan(sorted(durations, reverse=True), workers)


def run_command(command: list[str]) -> tuple[float, float]:
    """Run ``command`` (its output captured); its start and end (epoch seconds). Exits with the output's tail if it
    fails."""
    start = time.time()
    done = subprocess.run(command, capture_output=True, text=True)
    end = time.time()
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise SystemExit(f"error: {shlex.join(['python', *command[1:]])} failed (exit {done.returncode}):\n{tail}")
    return start, end


def run_sweep(grid: list[str], overrides: list[str], workers: int | None, folder: Path) -> tuple[float, float]:
    """Run the sweep with ``workers`` processes (None: the launcher's default, one per core) into ``folder``; its
    start and end (epoch seconds)."""
    command = [sys.executable, "-m", "nnexp.run", "-m", *grid, *overrides]
    if workers is not None:
        command.append(f"hydra.launcher.n_jobs={workers}")
    return run_command([*command, f"hydra.sweep.dir={folder / 'sweep'}", f"report.dir={folder / 'report'}"])


def run_times(sweep_dir: Path) -> pd.DataFrame:
    """One row per planned run, in the grid's order: its folder, start and finish (epoch seconds)."""
    jobs = latest_jobs(sweep_dir)
    if jobs is None:
        raise SystemExit(
            f"error: {sweep_dir} has no sweep plan; the sweep benchmark needs a grid sweep (nnexp's grid sweeper)"
        )
    rows = []
    for job in jobs:
        summary = read_summary(sweep_dir / job.dir / "summary.json")
        rows.append(
            {
                "run": job.dir,
                "start": datetime.fromisoformat(summary["started"]).timestamp(),
                "finish": datetime.fromisoformat(summary["finished"]).timestamp(),
            }
        )
    return pd.DataFrame(rows)


def phases(runs: pd.DataFrame, start: float, end: float) -> dict[str, float]:
    """Wall time of one sweep split into before the first run, the runs, and after the last run."""
    first, last = runs["start"].min(), runs["finish"].max()
    return {
        "wall_s": end - start,
        "before_runs_s": first - start,
        "runs_s": last - first,
        "after_runs_s": end - last,
        "work_s": float((runs["finish"] - runs["start"]).sum()),
    }


def _short_names(names: pd.Series) -> list[str]:
    """Run folder names without the settings all runs share (``activation=relu,hidden=32``)."""
    parts = [name.split(",") for name in names]
    shared = set.intersection(*(set(p) for p in parts)) if parts else set()
    return [",".join(item for item in p if item not in shared) or name for p, name in zip(parts, names)]


def plot_timeline(runs: pd.DataFrame, sweeps: pd.DataFrame, path: Path) -> None:
    """One bar per run from its start to its finish, per worker count; the dashed line is the command's end."""
    first = runs["repeat"] == runs["repeat"].min()
    counts = sorted(runs["workers"].unique())
    height = 1.2 + 0.22 * runs[first]["run"].nunique() * len(counts)
    fig, axes = plt.subplots(len(counts), 1, figsize=(8, height), squeeze=False, sharex=True)
    for ax, workers in zip(axes[:, 0], counts):
        shown = runs[first & (runs["workers"] == workers)]
        wall = sweeps[(sweeps["workers"] == workers) & (sweeps["repeat"] == runs["repeat"].min())]["wall_s"].iloc[0]
        ax.barh(range(len(shown)), shown["finish"] - shown["start"], left=shown["start_offset_s"], color="tab:blue")
        ax.axvline(wall, color="black", linestyle="--", linewidth=1)
        ax.set_yticks(range(len(shown)), _short_names(shown["run"]), fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(left=0)
        ax.set_title(f"{workers} worker{'s' if workers > 1 else ''}: {wall:.1f} s", fontsize=9)
        ax.grid(alpha=0.3, axis="x")
    axes[-1, 0].set_xlabel("seconds since the sweep command started (dashed: it ended)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary(sweeps: pd.DataFrame, runs: pd.DataFrame, command: str) -> str:
    """The markdown report: wall times, speed-up, phases, and the bounds the measured runs allow."""
    median = sweeps.groupby("workers")[SWEEP_COLUMNS[2:]].median()
    one, most = median.index.min(), median.index.max()
    serial = runs[(runs["workers"] == one) & (runs["repeat"] == runs["repeat"].min())]
    durations = list(serial["finish"] - serial["start"])
    in_order, longest_first = makespan(durations, most), makespan_longest_first(durations, most)
    base = median.loc[one, "wall_s"]
    fixed = median.loc[most, "before_runs_s"] + median.loc[most, "after_runs_s"]
    lines = [
        "# Sweep benchmark",
        "",
        f"`{command}` with `hydra.launcher.n_jobs` = {', '.join(str(w) for w in median.index)}"
        f" (median of {sweeps['repeat'].nunique()} repeat(s)); seconds.",
        "",
        median.round(2).to_markdown(),
        "",
        f"- Speed-up of the whole command, {most} workers against {one}: **{base / median.loc[most, 'wall_s']:.2f}x**;"
        f" of the runs phase alone: {median.loc[one, 'runs_s'] / median.loc[most, 'runs_s']:.2f}x.",
        f"- Shortest runs phase the measured {one}-worker run times allow on {most} workers: {in_order:.2f} s when"
        f" runs start in the grid's order (Hydra's own launchers), {longest_first:.2f} s when the longest start first"
        " (nnexp's launcher).",
        f"- With this sweep's time before and after the runs on {most} workers ({fixed:.2f} s), the best whole-command"
        f" speed-up is {base / (fixed + in_order):.2f}x in grid order and {base / (fixed + longest_first):.2f}x longest"
        " first (runs as fast in parallel as alone).",
        "- `before_runs_s`: Python and Hydra start-up, composing and checking every run, starting worker processes;"
        " `after_runs_s`: the report and exit; `work_s`: the runs' own time, summed.",
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m nnexp.bench.sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="further overrides of every run, e.g. data=fashion_mnist")
    parser.add_argument("--grid", default=GRID, help=f"the swept settings (default: {GRID})")
    parser.add_argument(
        "--workers", type=positive_ints, default=[1, 2], help="worker counts, comma-separated (default 1,2)"
    )
    parser.add_argument("--repeats", type=int, default=1, help="sweeps per worker count, taking turns (default 1)")
    parser.add_argument("--out", type=Path, default=Path("outputs/bench"), help="output folder (default outputs/bench)")
    args = parser.parse_args(argv)
    if len(args.workers) < 2:
        parser.error(f"--workers={','.join(map(str, args.workers))} is invalid; allowed: two or more positive ints")
    if args.repeats < 1:
        parser.error(f"--repeats={args.repeats} is invalid; allowed: an int >= 1")
    return args


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the sweeps, print the summary and write sweep.csv, sweep_runs.csv, sweep.png and sweep.md."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    grid = shlex.split(args.grid)
    args.out.mkdir(parents=True, exist_ok=True)
    sweeps, all_runs = [], []
    with tempfile.TemporaryDirectory(prefix="nnexp-sweep-bench-") as tmp:
        # untimed: fills the data cache (download, decoded arrays) and the page cache
        run_sweep([], [*args.overrides, "epochs=1", "hidden=8", "report.enabled=false"], 1, Path(tmp) / "warmup")
        for repeat in range(args.repeats):
            order = args.workers if repeat % 2 == 0 else args.workers[::-1]  # slow spells hit all counts alike
            for workers in order:
                folder = Path(tmp) / f"r{repeat}-w{workers}"
                start, end = run_sweep(grid, args.overrides, workers, folder)
                runs = run_times(folder / "sweep").assign(repeat=repeat, workers=workers)
                runs["start_offset_s"] = runs["start"] - start
                sweeps.append({"repeat": repeat, "workers": workers, "runs": len(runs), **phases(runs, start, end)})
                all_runs.append(runs)
    frame = pd.DataFrame(sweeps, columns=SWEEP_COLUMNS).sort_values(["workers", "repeat"])
    runs = pd.concat(all_runs, ignore_index=True)
    frame.to_csv(args.out / "sweep.csv", index=False)
    runs.assign(seconds=runs["finish"] - runs["start"]).drop(columns=["start", "finish"]).to_csv(
        args.out / "sweep_runs.csv", index=False
    )
    plot_timeline(runs, frame, args.out / "sweep.png")
    text = summary(frame, runs, shlex.join(["python", "-m", "nnexp.run", "-m", *grid, *args.overrides]))
    (args.out / "sweep.md").write_text(text)
    print(text)
    return frame


if __name__ == "__main__":
    main()
