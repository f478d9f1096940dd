"""``python -m nnexp.reproduce``: run every experiment preset (or those named) and build the scoreboard.

Each preset is a sweep into ``<out>/<preset>`` (resumable: the same command again runs only what is
missing); its report goes to ``<out>/reports/<preset>``. The scoreboard (``<out>/scoreboard.{md,html,csv}``)
puts every published number of ``experiments/`` beside ours. ``--publish`` copies the scoreboard and the
reports into ``reports/`` of the current folder (run in the project folder: the curated reports under version
control); nothing else writes there.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
from hydra.errors import HydraException
from omegaconf import OmegaConf

from nnexp.command_line import check_overrides, register_configs
from nnexp.console import version_line
from nnexp.errors import ConfigError
from nnexp.report.inputs import INPUTS_FILE
from nnexp.report.published import counted_apart
from nnexp.reproduce.presets import presets
from nnexp.reproduce.scoreboard import protocol_findings, score, write_scoreboard
from nnexp.training.spec import check_values

CURATED = Path("reports")


def sweep_command(preset: str, args: argparse.Namespace) -> list[str]:
    """The sweep that reproduces ``preset``."""
    command = [sys.executable, "-m", "nnexp.run", "-m", f"+experiment={preset}"]
    if args.seeds:
        command.append(f"seed=range({args.seeds})")
    if args.data_root:
        command.append(f"data.root={args.data_root.resolve()}")
    if args.jobs is not None:
        command.append(f"hydra.launcher.n_jobs={args.jobs}")
    return [*command, *args.override, f"hydra.sweep.dir={args.out / preset}", f"report.dir={args.out / 'reports'}"]


def check_presets(names: list[str], overrides: list[str]) -> None:
    """Raise :class:`ConfigError` (one line naming the preset) if a preset's configuration with ``overrides``
    does not compose or holds a bad value (sweeps at their first value; each sweep's planning checks the rest)."""
    register_configs()
    for name in names:
        try:
            config = check_overrides([f"+experiment={name}", *overrides])
            if config is not None:
                check_values(OmegaConf.to_object(config))
        except (ConfigError, HydraException) as exc:
            raise ConfigError(f"preset {name}: {str(exc).splitlines()[0]}") from None


def publish(
    out: Path, names: list[str], board: pd.DataFrame, sweeps: dict[str, Path], command: str, findings: pd.DataFrame
) -> None:
    """Copy the presets' reports into the curated ``reports/`` (not their digests of this machine's inputs,
    :mod:`nnexp.report.inputs`) and write the scoreboard there, linking them."""
    CURATED.mkdir(exist_ok=True)
    for name in names:
        if (out / "reports" / name).is_dir():
            shutil.rmtree(CURATED / name, ignore_errors=True)
            # without the digest of the local inputs (paths and dates of this machine's run folders)
            shutil.copytree(out / "reports" / name, CURATED / name, ignore=shutil.ignore_patterns(INPUTS_FILE))
    links = {name: f"{name}/index.html" for name in names if (CURATED / name).is_dir()}
    write_scoreboard(board, CURATED, sweeps, command, findings, links)


def main(argv: list[str] | None = None) -> int:
    known = presets()
    parser = argparse.ArgumentParser(prog="python -m nnexp.reproduce", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "presets", nargs="*", metavar="PRESET", help=f"presets to run (default: all): {', '.join(known)}"
    )
    parser.add_argument("--seeds", type=int, help="seeds 0..N-1 for every preset (default: each preset's own)")
    parser.add_argument("--data-root", type=Path, help="folder holding the MNIST files (default: data.root / download)")
    parser.add_argument("--out", type=Path, default=Path("reproduction"), help="output folder (default: reproduction)")
    parser.add_argument("--jobs", type=int, help="runs at a time (hydra.launcher.n_jobs; default: one per core)")
    parser.add_argument(
        "-o",
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for every run, e.g. epochs=1",
    )
    parser.add_argument("--publish", action="store_true", help="copy the scoreboard and reports into reports/")
    parser.add_argument("--scoreboard-only", action="store_true", help="build the scoreboard from the runs there are")
    parser.add_argument("--version", action="version", version=version_line())
    args = parser.parse_args(argv)
    unknown = [name for name in args.presets if name not in known]
    if unknown:
        parser.error(f"unknown preset {', '.join(unknown)}; allowed: {', '.join(known)}")
    if args.seeds is not None and args.seeds < 1:
        parser.error(f"--seeds={args.seeds} is invalid; allowed: an int >= 1")
    if args.data_root is not None and not args.data_root.is_dir():
        parser.error(f"--data-root={args.data_root} is not a folder; allowed: a folder holding the IDX files")
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs={args.jobs} is invalid; allowed: an int >= 1")
    names = args.presets or known
    if not args.scoreboard_only:
        try:
            check_presets(names, [*args.override, *([f"data.root={args.data_root}"] if args.data_root else [])])
        except ConfigError as exc:
            parser.error(f"{exc} (nothing was run)")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(f"--out={args.out} cannot be created ({exc.strerror}); allowed: a folder that can be written")
    failed = []
    if not args.scoreboard_only:
        for name in names:
            command = sweep_command(name, args)
            print(f"reproduce: {name}: {shlex.join(command[1:])}", file=sys.stderr, flush=True)
            # the sweep's lines, its results too, are this command's progress: on stderr (its results: the scoreboard)
            if subprocess.run(command, env=os.environ, stdout=sys.stderr.fileno()).returncode != 0:
                failed.append(name)
    sweeps = {name: args.out / name for name in names}
    board = score(sweeps)
    findings = protocol_findings(sweeps)
    argv_text = shlex.join(["python", "-m", "nnexp.reproduce", *(argv if argv is not None else sys.argv[1:])])
    links = {name: f"reports/{name}/index.html" for name in names if (args.out / "reports" / name).is_dir()}
    index = write_scoreboard(board, args.out, sweeps, argv_text, findings, links)
    counts = counted_apart(board["verdict"], board["metric"])
    print(f"reproduce: scoreboard {index} ({len(board)} published values: {counts})")
    if args.publish:
        publish(args.out, names, board, sweeps, argv_text, findings)
        print(f"reproduce: published into {CURATED}")
    if failed:
        print(
            f"reproduce: error: the sweeps of {', '.join(failed)} did not succeed (see their output)", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
