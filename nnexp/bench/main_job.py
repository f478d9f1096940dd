"""Main-job benchmark: the README's main job against the same grid as a bare Hydra + joblib + scikit-learn sweep.

``python -m nnexp.bench.main_job [--repeat N] [--out DIR] [--mnist-root DIR]`` times two whole commands as a user
runs them, taking turns, N times each (default 3):

- nnexp: the README's main job, ``python -m nnexp.run -m activation=sigmoid,relu,tanh hidden=32,64,128,256
  data.root=DIR`` (12 networks, 10 epochs of batches of 64 on 54,000 images, every epoch's metrics on the three
  splits, the report), into temporary sweep and report folders (:func:`nnexp.bench.sweep.run_sweep`);
- reference: the same grid with :mod:`nnexp.bench.reference_app` on Hydra's joblib launcher: scikit-learn's
  ``MLPClassifier`` with the same settings on the same images, the test accuracy only (no curves, no report).

Each runs once untimed first, as a 1-run sweep of 1 epoch and 8 hidden units (it fills the data's array cache and
the page cache: "once warm"). Results in ``--out`` (default outputs/bench): ``main_job.csv`` (one row per timed
command: its wall seconds, the CPU seconds of all its processes, the mean test accuracy of its 12 networks, the
1-minute load average before it) and ``main_job.md`` (per command: wall seconds of each repeat, median, min-max, the
ratio of medians to nnexp's, median CPU seconds, mean test accuracy). On a shared machine the CPU seconds move less
than the wall times.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from statistics import fmean

import pandas as pd

from nnexp.bench.machine import cpu_model
from nnexp.bench.reference_app.app import RESULT_FILE
from nnexp.bench.sweep import run_command, run_sweep
from nnexp.results import SUMMARY_FILE, read_summary
from nnexp.sweep.plan import latest_jobs

NNEXP, REFERENCE = "nnexp", "reference"
GRID = ["activation=sigmoid,relu,tanh", "hidden=32,64,128,256"]  # the README's main job
REFERENCE_GRID = ["activation=logistic,relu,tanh", "hidden=32,64,128,256"]  # logistic: scikit-learn's sigmoid
WARMUP = ["epochs=1", "hidden=8"]
TARGET = 1.5  # issue 28: the main job at least this many times faster than the reference
COLUMNS = ["command", "repeat", "wall_s", "cpu_s", "runs", "mean_test_acc", "load_1min"]

# a command: (sweep folder, mnist root, warm-up?) -> wall seconds, test accuracy of each network
Timed = Callable[[Path, Path, bool], tuple[float, list[float]]]


def time_nnexp(folder: Path, mnist_root: Path, warmup: bool) -> tuple[float, list[float]]:
    """The README's main job (or the warm-up run, without report) into ``folder``."""
    overrides = [f"data.root={mnist_root}", *([*WARMUP, "report.enabled=false"] if warmup else [])]
    start, end = run_sweep([] if warmup else GRID, overrides, None, folder)
    sweep_dir = folder / "sweep"
    return end - start, [read_summary(sweep_dir / job.dir / SUMMARY_FILE)["test_acc"] for job in latest_jobs(sweep_dir)]


def time_reference(folder: Path, mnist_root: Path, warmup: bool) -> tuple[float, list[float]]:
    """The reference app on the main job's grid (or the warm-up run) into ``folder``."""
    grid = WARMUP if warmup else REFERENCE_GRID
    command = [sys.executable, "-m", "nnexp.bench.reference_app", "-m", *grid, f"data.root={mnist_root}"]
    start, end = run_command([*command, f"hydra.sweep.dir={folder}"])
    return end - start, [float(path.read_text()) for path in sorted(folder.glob(f"*/{RESULT_FILE}"))]


COMMANDS: dict[str, Timed] = {NNEXP: time_nnexp, REFERENCE: time_reference}


def spelled(mnist_root: Path) -> dict[str, str]:
    """The two timed commands as a user types them."""
    root = f"data.root={mnist_root}"
    return {
        NNEXP: shlex.join(["python", "-m", "nnexp.run", "-m", *GRID, root]),
        REFERENCE: shlex.join(["python", "-m", "nnexp.bench.reference_app", "-m", *REFERENCE_GRID, root]),
    }


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished child processes and of theirs, so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(mnist_root: Path, repeats: int) -> pd.DataFrame:
    """One row per timed command (:data:`COLUMNS`); the commands take turns, the first alternating."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="nnexp-main-job-bench-") as tmp:
        for name, timed in COMMANDS.items():
            timed(Path(tmp) / f"warmup-{name}", mnist_root, True)
        for repeat in range(repeats):
            names = list(COMMANDS) if repeat % 2 == 0 else list(COMMANDS)[::-1]  # slow spells hit both alike
            for name in names:
                load, cpu = os.getloadavg()[0], children_cpu()
                seconds, accuracies = COMMANDS[name](Path(tmp) / f"r{repeat}-{name}", mnist_root, False)
                rows.append(
                    {
                        "command": name,
                        "repeat": repeat,
                        "wall_s": seconds,
                        "cpu_s": children_cpu() - cpu,
                        "runs": len(accuracies),
                        "mean_test_acc": fmean(accuracies),
                        "load_1min": load,
                    }
                )
    return pd.DataFrame(rows, columns=COLUMNS)


def table(times: pd.DataFrame) -> pd.DataFrame:
    """Per command (nnexp first): wall seconds of each repeat, median, min-max, median / nnexp's median, median CPU
    seconds, mean test accuracy over the repeats."""
    base = times.loc[times["command"] == NNEXP, "wall_s"].median()
    rows = {}
    for name in COMMANDS:
        mine = times[times["command"] == name].sort_values("repeat")
        seconds = mine["wall_s"]
        rows[name] = {
            "wall s per repeat": ", ".join(f"{s:.1f}" for s in seconds),
            "median s": round(seconds.median(), 1),
            "min-max s": f"{seconds.min():.1f}-{seconds.max():.1f}",
            "median / nnexp's": round(seconds.median() / base, 2),
            "CPU s, median": round(mine["cpu_s"].median(), 1),
            "mean test accuracy": f"{mine['mean_test_acc'].mean():.2%}",
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("command")


def repeat_ratios(times: pd.DataFrame) -> pd.Series:
    """Reference wall time / nnexp's, repeat by repeat (the two timed next to each other)."""
    wide = times.pivot(index="repeat", columns="command", values="wall_s")
    return wide[REFERENCE] / wide[NNEXP]


def summary(times: pd.DataFrame, mnist_root: Path) -> str:
    """The markdown report: the commands, the table, the speed-up against the target."""
    shown = table(times)
    speedup, ratios = shown.loc[REFERENCE, "median / nnexp's"], repeat_ratios(times)
    verdict = "met" if speedup >= TARGET else "missed"
    commands = spelled(mnist_root)
    load, cpu = times["load_1min"], shown["CPU s, median"]
    lines = [
        "# Main job against a bare Hydra + joblib + scikit-learn sweep",
        "",
        f"Wall seconds of each whole command over {times['repeat'].nunique()} repeats, taking turns, once warm,"
        f" on {os.cpu_count()} cores ({cpu_model()}; 1-minute load average before a command:"
        f" {load.min():.2f}-{load.max():.2f}):",
        "",
        f"- nnexp: `{commands[NNEXP]}` (per-epoch metrics of the three splits, the report);",
        f"- reference: `{commands[REFERENCE]}` (scikit-learn's `MLPClassifier`, plain SGD with the same settings on"
        " the same 54,000 images, Hydra's joblib launcher; test accuracy only).",
        "",
        shown.to_markdown(),
        "",
        f"nnexp is **{speedup:.2f}x** as fast as the reference (ratio of medians; repeat by repeat"
        f" {ratios.min():.2f}-{ratios.max():.2f}x); target at least {TARGET}x: {verdict}. In CPU seconds (all"
        f" processes of a command, user + system) the reference takes {cpu[REFERENCE] / cpu[NNEXP]:.2f}x nnexp's.",
    ]
    busy = int((load > os.cpu_count()).sum())
    if busy:
        lines += [
            "",
            f"Measured under load: before {busy} of the {len(times)} commands the load average exceeded the"
            f" {os.cpu_count()} cores, so other processes took CPU time from them and their wall times (and their"
            " ratio) are not an idle machine's; the CPU seconds move less.",
        ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m nnexp.bench.main_job", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each command, taking turns (default 3)")
    parser.add_argument("--out", type=Path, default=Path("outputs/bench"), help="output folder (default outputs/bench)")
    parser.add_argument(
        "--mnist-root",
        type=Path,
        default=Path("../shared/data/mnist"),
        help="the folder of the four MNIST files (default ../shared/data/mnist, as the README's measurements)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat={args.repeat} is invalid; allowed: an int >= 1")
    if not args.mnist_root.is_dir():
        parser.error(f"--mnist-root={args.mnist_root} is not a folder; allowed: a folder of the four MNIST files")
    return args


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Time both commands, print the summary and write main_job.csv and main_job.md."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    times = measure(args.mnist_root.resolve(), args.repeat)
    args.out.mkdir(parents=True, exist_ok=True)
    times.round({"wall_s": 3, "cpu_s": 3, "mean_test_acc": 6, "load_1min": 2}).to_csv(
        args.out / "main_job.csv", index=False
    )
    text = summary(times, args.mnist_root)
    (args.out / "main_job.md").write_text(text)
    print(text)
    return times


if __name__ == "__main__":
    main()
