"""Start-up benchmark: the wall time of the commands whose cost is not training.

``python -m nnexp.bench.startup [--repeats N] [--out DIR]`` times, as a user would run them from a shell,

- ``nnexp-run --help``;
- a 2-run digits sweep with its report, ``nnexp-run -m data=digits hidden=16,32`` (0.2 s of training a run),
  into a new sweep folder each time;
- the same sweep with ``report.enabled=false`` (so the report's share can be read off);
- with ``--grids``, the README's grid (``activation=sigmoid,relu,tanh hidden=32,64,128,256``) on the digits and,
  with ``--mnist-root DIR`` too, the README's main job on the MNIST files in ``DIR``, each with its report.

Each command runs once untimed first (it fills the data cache and the page cache: "once warm"), then
``--repeats`` times, taking turns, so that a slow spell of a noisy machine hits all commands alike.
Results: ``startup.csv`` (every timing) and ``startup.md`` (min, median, max per command) in ``--out``
(default ``outputs/bench``).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from nnexp.bench.machine import environment

RUN = [sys.executable, "-m", "nnexp.run"]
SWEEP = ["-m", "data=digits", "hidden=16,32"]
GRID = ["-m", "activation=sigmoid,relu,tanh", "hidden=32,64,128,256"]  # the README's main job


def commands(grids: bool, mnist_root: Path | None) -> dict[str, list[str]]:
    """The timed commands, by name: their arguments."""
    timed = {
        "help": ["--help"],
        "digits sweep, 2 runs, with report": SWEEP,
        "digits sweep, 2 runs, no report": [*SWEEP, "report.enabled=false"],
    }
    if grids:
        timed["README grid on digits, 12 runs, with report"] = [*GRID, "data=digits"]
        if mnist_root is not None:
            timed["README main job on MNIST, 12 runs, with report"] = [*GRID, f"data.root={mnist_root.resolve()}"]
    return timed


def timed(args: list[str], cwd: Path) -> float:
    """Wall seconds of ``python -m nnexp.run ARGS`` in ``cwd``; an error (with its output's tail) if it fails."""
    start = time.perf_counter()
    done = subprocess.run([*RUN, *args], cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = "\n".join((done.stderr + done.stdout).strip().splitlines()[-5:])
        raise SystemExit(f"error: {shlex.join(args)} failed (exit {done.returncode}):\n{tail}")
    return seconds


def measure(timed_commands: dict[str, list[str]], repeats: int) -> pd.DataFrame:
    """One row per timed command: command, repeat, seconds."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="nnexp-startup-bench-") as tmp:
        folder = Path(tmp)
        for repeat in range(-1, repeats):  # -1: the untimed warm-up round
            for name, args in timed_commands.items():
                sweep_dir = folder / "multirun"
                seconds = timed([*args, f"hydra.sweep.dir={sweep_dir}"] if args[0] == "-m" else args, folder)
                shutil.rmtree(sweep_dir, ignore_errors=True)
                if repeat >= 0:
                    rows.append({"command": name, "repeat": repeat, "seconds": seconds})
    return pd.DataFrame(rows)


def summary(times: pd.DataFrame) -> str:
    """The markdown table: min, median and max seconds of each command."""
    table = times.groupby("command", sort=False)["seconds"].agg(["min", "median", "max"]).round(2)
    lines = [
        "# Start-up benchmark",
        "",
        f"Wall seconds of `python -m nnexp.run ...` over {times['repeat'].nunique()} repeats, once warm;"
        f" sweep: `{shlex.join(SWEEP)}`. Machine: {environment()}.",
        "",
        table.to_markdown(),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(prog="python -m nnexp.bench.startup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each command (default 5)")
    parser.add_argument("--out", type=Path, default=Path("outputs/bench"), help="output folder (default outputs/bench)")
    parser.add_argument("--grids", action="store_true", help="also time the README's 12-run grid (digits)")
    parser.add_argument("--mnist-root", type=Path, help="with --grids: also the README's main job on these MNIST files")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.repeats < 1:
        parser.error(f"--repeats={args.repeats} is invalid; allowed: an int >= 1")
    if args.mnist_root is not None and not args.mnist_root.is_dir():
        parser.error(f"--mnist-root={args.mnist_root} is not a folder; allowed: a folder of the four MNIST files")
    times = measure(commands(args.grids, args.mnist_root), args.repeats)
    args.out.mkdir(parents=True, exist_ok=True)
    times.to_csv(args.out / "startup.csv", index=False)
    text = summary(times)
    (args.out / "startup.md").write_text(text)
    print(text)
    return times


if __name__ == "__main__":
    main()
