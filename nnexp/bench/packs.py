"""Packs benchmark: presets swept with packs on and off (issue 28, item 4).

``python -m nnexp.bench.packs [--preset NAME ...] [--epochs N] [--override KEY=VALUE ...] [--repeat R] [--out DIR]
[--mnist-root DIR]`` runs each preset's grid sweep as a user does (``python -m nnexp.run -m +experiment=NAME
data.root=DIR``, 2 workers on 2 cores), with ``pack=true`` and ``pack=false`` taking turns, R times each (default 1),
no report; by default w003_single_neuron, the preset of issue 28's item 4 whose runs still pack. ``--override``
changes every run of the presets (``hidden=16``: the preset's grid at another width; its rows are named by preset
and overrides, and have no target); ``--epochs`` shortens every run (default: the preset's own); a shortened sweep
weighs each run's fixed cost (its process's job setup, its data) more, which the packed sweep pays as often as the
other (every member's job still runs, to find its result).

Results in ``--out`` (default outputs/bench): ``packs.csv`` (one row per timed sweep: preset and overrides, pack,
repeat, wall seconds, runs, packs formed, 1-minute load average before it) and ``packs.md`` (per preset: median wall
seconds with packs off and on, the speed-up against its target, and how far each run's final metrics moved: the
largest |difference| of test accuracy and the largest relative difference of training loss between a run packed and
alone).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

from nnexp.bench.machine import cpu_model
from nnexp.bench.sweep import run_sweep
from nnexp.results import SUMMARY_FILE, read_summary
from nnexp.sweep.plan import latest_jobs

# the presets of issue 28's item 4 and the speed-up each must reach with packs on, on 2 cores
TARGETS = {"w003_single_neuron": 8.0, "w003_hidden_binary": 1.5, "w003_multiclass": 1.5, "a003_multiclass_99": 1.5}
# timed when no --preset is given: the others' 64-unit networks no longer pack (PACKED_FIRST_LAYER_UNITS), so their
# sweeps with packs on and off are the same sweep
DEFAULT_PRESETS = ["w003_single_neuron"]
SET_HERE = ("+experiment", "experiment", "data.root", "pack", "report.enabled", "epochs")  # keys the bench sets
COLUMNS = ["preset", "pack", "repeat", "wall_s", "runs", "packs", "load_1min"]


def time_sweep(preset: str, pack: bool, epochs: int | None, changes: list[str], mnist_root: Path, folder: Path) -> dict:
    """One sweep of ``preset`` with the overrides ``changes`` into ``folder``: its wall seconds, runs and packs, and
    each run's final metrics."""
    overrides = [f"+experiment={preset}", f"data.root={mnist_root}", f"pack={str(pack).lower()}", *changes]
    overrides += ["report.enabled=false", *([f"epochs={epochs}"] if epochs else [])]
    start, end = run_sweep([], overrides, 2, folder)
    sweep_dir = folder / "sweep"
    jobs = latest_jobs(sweep_dir) or []
    finals = {job.dir: read_summary(sweep_dir / job.dir / SUMMARY_FILE) for job in jobs}
    return {
        "wall_s": end - start,
        "runs": len(jobs),
        "packs": sum(1 for job in jobs if job.pack),
        "finals": {name: (summary["test_acc"], summary["train_loss"]) for name, summary in finals.items()},
    }


def measure(
    presets: list[str], epochs: int | None, changes: list[str], repeats: int, mnist_root: Path
) -> tuple[pd.DataFrame, dict]:
    """One row per timed sweep (:data:`COLUMNS`; ``preset``: its name and the overrides ``changes``), packs on and
    off taking turns; and per preset the largest differences of the runs' final metrics between the two."""
    rows, moved = [], {}
    with tempfile.TemporaryDirectory(prefix="nnexp-packs-bench-") as tmp:
        for name in presets:
            preset, finals = " ".join([name, *changes]), {}
            for repeat in range(repeats):
                for pack in (True, False) if repeat % 2 == 0 else (False, True):
                    load = os.getloadavg()[0]
                    folder = Path(tmp) / f"{name}-{pack}-{repeat}"
                    timed = time_sweep(name, pack, epochs, changes, mnist_root, folder)
                    finals[pack] = timed.pop("finals")
                    rows.append({"preset": preset, "pack": pack, "repeat": repeat, **timed, "load_1min": load})
            moved[preset] = (
                max(abs(finals[True][run][0] - finals[False][run][0]) for run in finals[True]),
                max(_relative(finals[True][run][1], finals[False][run][1]) for run in finals[True]),
            )
    return pd.DataFrame(rows, columns=COLUMNS), moved


def _relative(ours: float, theirs: float) -> float:
    if ours == theirs:  # also two infinities (a diverged run)
        return 0.0
    return abs(ours - theirs) / abs(theirs) if theirs else float("inf")


def table(times: pd.DataFrame, moved: dict) -> pd.DataFrame:
    """Per preset: runs, packs, median wall seconds off and on, speed-up, target, largest metric differences."""
    rows = {}
    for preset, group in times.groupby("preset", sort=False):
        off, on = (group.loc[group["pack"] == pack, "wall_s"] for pack in (False, True))
        speedup = off.median() / on.median()
        target = TARGETS.get(preset)
        rows[preset] = {
            "runs": int(group["runs"].iloc[0]),
            "packs": int(group.loc[group["pack"], "packs"].iloc[0]),
            "pack=false s": f"{off.median():.1f} ({off.min():.1f}-{off.max():.1f})",
            "pack=true s": f"{on.median():.1f} ({on.min():.1f}-{on.max():.1f})",
            "speed-up": round(speedup, 2),
            "target": "" if target is None else f"{target:g}x: {'met' if speedup >= target else 'missed'}",
            "max |test acc diff|": f"{moved[preset][0]:.2g}",
            "max rel train loss diff": f"{moved[preset][1]:.2g}",
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("preset")


def summary(times: pd.DataFrame, moved: dict, epochs: int | None, changes: list[str]) -> str:
    load = times["load_1min"]
    lines = [
        "# Presets with packs on and off",
        "",
        f"Wall seconds of each preset's sweep (`python -m nnexp.run -m +experiment=NAME pack=true|false"
        f"{''.join(f' {change}' for change in changes)}{f' epochs={epochs}' if epochs else ''}`, 2 workers, no report),"
        f" {times['repeat'].nunique()} repeat(s) each,"
        f" taking turns, on {os.cpu_count()} cores ({cpu_model()}; 1-minute load average before a sweep:"
        f" {load.min():.2f}-{load.max():.2f}); median (min-max). The metric columns compare each run's final metrics,"
        " packed against alone (docs/packs.md: equal to float32 rounding).",
        "",
        table(times, moved).to_markdown(),
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m nnexp.bench.packs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", action="append", help=f"a preset (repeatable; default: {DEFAULT_PRESETS[0]})")
    parser.add_argument("--epochs", type=int, help="epochs of every run (default: the preset's)")
    parser.add_argument(
        "--override", action="append", default=[], help="KEY=VALUE for every run, as on nnexp.run's command line"
    )
    parser.add_argument("--repeat", type=int, default=1, help="timed sweeps of each setting (default 1)")
    parser.add_argument("--out", type=Path, default=Path("outputs/bench"), help="output folder (default outputs/bench)")
    parser.add_argument(
        "--mnist-root", type=Path, default=Path("../shared/data/mnist"), help="the folder of the four MNIST files"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat={args.repeat} is invalid; allowed: an int >= 1")
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs={args.epochs} is invalid; allowed: an int >= 1")
    for change in args.override:
        key, equals, value = change.partition("=")
        if not equals or ("," in value and not value.startswith("[")) or key.startswith("hydra") or key in SET_HERE:
            parser.error(
                f"--override={change} is invalid; allowed: KEY=VALUE with one value, KEY not hydra.* nor one the"
                f" benchmark sets ({', '.join(SET_HERE)}: use --preset and --epochs)"
            )
    if not args.mnist_root.is_dir():
        parser.error(f"--mnist-root={args.mnist_root} is not a folder; allowed: a folder of the four MNIST files")
    return args


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Time the presets' sweeps, print the summary and write packs.csv and packs.md."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    times, moved = measure(
        args.preset or DEFAULT_PRESETS, args.epochs, args.override, args.repeat, args.mnist_root.resolve()
    )
    args.out.mkdir(parents=True, exist_ok=True)
    times.round({"wall_s": 3, "load_1min": 2}).to_csv(args.out / "packs.csv", index=False)
    text = summary(times, moved, args.epochs, args.override)
    (args.out / "packs.md").write_text(text)
    print(text)
    return times


if __name__ == "__main__":
    main()
