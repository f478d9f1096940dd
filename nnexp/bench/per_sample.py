"""Per-sample benchmark: the batch-1 loop of a real run against the benchmark's nnexp cell, in microseconds per step.

``python -m nnexp.bench.per_sample [overrides...]`` times, for each hidden size H and worker count W:

- **run**: W runs side by side, started as a user starts them: ``python -m nnexp.run batch_size=1 epochs=1
  hidden=H ...`` (W = 1: one run; W > 1: a sweep over W seeds with ``hydra.launcher.n_jobs=W``); its time per
  step is what the run reports, ``epoch_seconds`` (training only, no evaluation) over its training rows;
- **bench**: W processes side by side, each the benchmark's nnexp cell
  (:func:`nnexp.bench.implementations.epochs_nnexp`: the same 784-H-10 sigmoid network, Xavier initialisation,
  SGD at the same rate, one BLAS thread, float32) for one epoch of synthetic data with as many rows as the run
  trains on.

W side-by-side copies of the cell are the fair peer of a W-worker sweep: both keep W cores busy with the same work.
The two take turns (run first in even repeats, bench first in odd ones), so a busy spell of the machine hits both;
``other_cpus`` says how many CPUs other processes kept busy meanwhile. ``ratio`` is run over bench of the medians.
An untimed run first fills the data cache and the page cache. Results: ``per_sample.csv`` (every measurement) and
``per_sample.md`` (the table) in ``--out``.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from nnexp.bench.cli import positive_ints
from nnexp.bench.implementations import LEARNING_RATES, epochs_nnexp
from nnexp.bench.machine import background_load, thread_limit
from nnexp.bench.synthetic import synthetic_splits
from nnexp.results import read_summary

SIDES = ("run", "bench")
# the run's settings that the benchmark's cell fixes (epochs_nnexp): network, initialisation, optimizer and rate
CELL_SETTINGS = ["activation=sigmoid", "init=xavier", "optimizer=sgd", f"lr={LEARNING_RATES['sgd']}", "dtype=float32"]
RAW_COLUMNS = ["hidden", "workers", "repeat", "side", "us_per_step", "other_cpus"]


def cell_us_per_step(hidden: int, rows: int) -> float:
    """Microseconds per step of one epoch of the benchmark's nnexp cell at batch 1 on ``rows`` synthetic rows."""
    data = synthetic_splits(rows)
    with thread_limit(1):
        seconds = next(epochs_nnexp(data, hidden, 1, "sgd"))
    return 1e6 * seconds / rows


def _run_command(overrides: list[str], workers: int, folder: Path) -> list[str]:
    """``python -m nnexp.run`` for ``workers`` runs of ``overrides`` into ``folder`` (a sweep over seeds if > 1)."""
    command = [sys.executable, "-m", "nnexp.run", "-q"]
    if workers == 1:
        return [*command, *overrides, "report.enabled=false", f"hydra.run.dir={folder}"]
    seeds = ",".join(str(seed) for seed in range(workers))
    sweep = [f"seed={seeds}", f"hydra.launcher.n_jobs={workers}", f"hydra.sweep.dir={folder}"]
    return [*command, "-m", *overrides, "report.enabled=false", *sweep]


def _check(done: subprocess.CompletedProcess, command: list[str]) -> None:
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise SystemExit(f"error: {shlex.join(command[1:])} failed (exit {done.returncode}):\n{tail}")


def run_us_per_step(overrides: list[str], workers: int, folder: Path) -> list[float]:
    """Microseconds per step of each of ``workers`` runs of ``overrides`` side by side: their epoch_seconds over
    their training rows."""
    command = _run_command(overrides, workers, folder)
    _check(subprocess.run(command, capture_output=True, text=True), command)
    times = []
    for metrics in sorted(folder.glob("**/metrics.csv")):
        epochs = pd.read_csv(metrics)
        n_train = read_summary(metrics.parent / "summary.json")["n_train"]
        times.append(1e6 * epochs["epoch_seconds"].sum() / (len(epochs) * n_train))
    return times


def bench_us_per_step(hidden: int, rows: int, workers: int) -> list[float]:
    """Microseconds per step of ``workers`` copies of the benchmark's cell side by side, each its own process."""
    command = [sys.executable, "-m", "nnexp.bench.per_sample", "--cell", str(hidden), "--rows", str(rows)]
    copies = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(workers)
    ]
    times = []
    for copy in copies:
        stdout, stderr = copy.communicate()
        _check(subprocess.CompletedProcess(command, copy.returncode, stdout, stderr), command)
        times.append(float(stdout))
    return times


def _turn(
    side: str, hidden: int, workers: int, repeat: int, overrides: list[str], rows: int, folder: Path
) -> list[dict]:
    """One side's measurements of one setting (rows of :data:`RAW_COLUMNS`)."""
    with background_load() as load:
        if side == "run":
            settings = [*overrides, *CELL_SETTINGS, "batch_size=1", "epochs=1", f"hidden={hidden}"]
            times = run_us_per_step(settings, workers, folder / f"r{repeat}-w{workers}-h{hidden}")
        else:
            times = bench_us_per_step(hidden, rows, workers)
    setting = {"hidden": hidden, "workers": workers, "repeat": repeat, "side": side}
    return [{**setting, "us_per_step": us, "other_cpus": load["cpus"]} for us in times]


def measure(hiddens: list[int], workers: list[int], repeats: int, overrides: list[str], folder: Path) -> pd.DataFrame:
    """Every measurement (:data:`RAW_COLUMNS`): for each repeat, worker count and hidden size, the runs and the
    benchmark's cells taking turns. ``overrides`` set the runs' data (e.g. ``data.root=...``)."""
    warmup = [*overrides, "batch_size=64", "epochs=1", "hidden=8", "report.enabled=false"]
    command = [sys.executable, "-m", "nnexp.run", "-q", *warmup, f"hydra.run.dir={folder / 'warmup'}"]
    _check(subprocess.run(command, capture_output=True, text=True), command)
    rows_per_epoch = read_summary(folder / "warmup" / "summary.json")["n_train"]
    raw = []
    for repeat in range(repeats):
        for n_workers in workers:
            for hidden in hiddens:
                for side in SIDES if repeat % 2 == 0 else SIDES[::-1]:
                    raw += _turn(side, hidden, n_workers, repeat, overrides, rows_per_epoch, folder)
    return pd.DataFrame(raw, columns=RAW_COLUMNS)


def compare(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per hidden size and worker count: median and range of µs per step of the runs and of the benchmark's
    cells, ``ratio`` (run / bench, of the medians) and the largest ``other_cpus`` seen."""
    stats = raw.groupby(["hidden", "workers", "side"])["us_per_step"].agg(["median", "min", "max"]).unstack("side")
    table = pd.DataFrame(
        {
            f"{side}_us{suffix}": stats[(stat, side)]
            for side in SIDES
            for stat, suffix in [("median", ""), ("min", "_min"), ("max", "_max")]
        }
    )
    table["ratio"] = table["run_us"] / table["bench_us"]
    table["other_cpus_max"] = raw.groupby(["hidden", "workers"])["other_cpus"].max()
    return table.reset_index()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m nnexp.bench.per_sample", description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="settings of the runs, e.g. data.root=../shared/data/mnist")
    parser.add_argument(
        "--hidden", type=positive_ints, default=[32, 128, 256], help="hidden sizes (default 32,128,256)"
    )
    parser.add_argument("--workers", type=positive_ints, default=[1, 2], help="side-by-side processes (default 1,2)")
    parser.add_argument("--repeats", type=int, default=3, help="turns of each side per setting (default 3)")
    parser.add_argument("--out", type=Path, default=Path("outputs/bench"), help="output folder (default outputs/bench)")
    parser.add_argument("--cell", type=int, metavar="H", help=argparse.SUPPRESS)  # one cell: print its µs per step
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats={args.repeats} is invalid; allowed: an int >= 1")
    return args


def main(argv: list[str] | None = None) -> pd.DataFrame | None:
    """Measure, print the table and write per_sample.csv and per_sample.md (or, with ``--cell``, time one cell)."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.cell is not None:
        print(cell_us_per_step(args.cell, args.rows))
        return None
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nnexp-per-sample-") as tmp:
        raw = measure(args.hidden, args.workers, args.repeats, args.overrides, Path(tmp))
    raw.to_csv(args.out / "per_sample.csv", index=False)
    table = compare(raw)
    command = shlex.join(["python", "-m", "nnexp.run", *args.overrides, "batch_size=1", "hidden=H"])
    text = (
        "# Per-sample loop: a run against the benchmark's cell\n\n"
        f"`{command}` (W side by side) against W copies of the benchmark's nnexp cell; microseconds per step, "
        f"median and range of {args.repeats} turn(s); `ratio` = run / bench.\n\n"
        f"{table.round(2).to_markdown(index=False)}\n"
    )
    (args.out / "per_sample.md").write_text(text)
    print(text)
    return table


if __name__ == "__main__":
    main()
