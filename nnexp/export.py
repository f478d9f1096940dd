"""Log a finished sweep to a tracker from its files: ``python -m nnexp.export tensorboard|mlflow SWEEP_DIR``
(``nnexp-export``).

Each run folder is logged as ``tracker=tensorboard|mlflow`` logs a run as it trains: its ``metrics.csv`` rows by epoch,
its settings (``summary.json``'s config) as hyper-parameters, its status, and (MLflow) ``summary.json`` and
``model.npz`` as artifacts. A run logged already (the same fingerprint and status) is skipped, so exporting twice, or
a sweep logged live, adds nothing. Where to: the options, else where the tracker logs that sweep's runs live
(``<sweep folder>/tensorboard``, ``sqlite:///<sweep folder>/mlflow/mlflow.db``).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from nnexp.config import TrackerConfig, TrackerName
from nnexp.console import version_line
from nnexp.errors import NnexpError, ReportError
from nnexp.results import METRICS_FILE, SUMMARY_FILE, load_summary
from nnexp.tracking.location import locate
from nnexp.tracking.opening import Tracker, open_tracker
from nnexp.tracking.params import run_params
from nnexp.training.spec import result_settings


def _rows(path: Path) -> list[dict[str, float]]:
    """The rows of a ``metrics.csv`` as numbers (none if it is absent)."""
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]


def export_run(tracker: Tracker, folder: Path, name: str) -> bool:
    """Log the run in ``folder`` (with a ``summary.json``) as ``name``; whether it was logged (False: logged before).
    :class:`ReportError` when its summary cannot be read."""
    try:
        summary = load_summary(folder / SUMMARY_FILE)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ReportError(f"{folder / SUMMARY_FILE} cannot be read ({exc})") from None
    if tracker.logged(name, summary.fingerprint, summary.status.value):
        return False
    run = tracker.start(name, summary.fingerprint, run_params(result_settings(summary.config)), 1)
    for row in _rows(folder / METRICS_FILE):
        run.epoch(row)
    run.end(summary, folder)
    return True


def export_sweep(tracker: Tracker, sweep_dir: Path) -> tuple[int, int, int]:
    """Log every run of ``sweep_dir`` that has a ``summary.json``; how many were logged, skipped as logged, and left
    out because their summary cannot be read (one line each on stderr)."""
    from nnexp.report.runs import find_run_dirs

    logged = skipped = unreadable = 0
    for folder in find_run_dirs(sweep_dir):
        if (folder / SUMMARY_FILE).is_file():
            name = folder.name if folder != sweep_dir else sweep_dir.absolute().name
            try:
                exported = export_run(tracker, folder, name)
            except ReportError as exc:
                print(f"warning: {exc}: not exported", file=sys.stderr)
                unreadable += 1
                continue
            logged += exported
            skipped += not exported
    return logged, skipped, unreadable


def main(argv: list[str] | None = None) -> int:
    """Export a sweep folder; exit status 2 with one line on bad input."""
    parser = argparse.ArgumentParser(prog="nnexp-export", description=__doc__.split("\n\n")[0])
    parser.add_argument("tracker", choices=[name.value for name in TrackerName if name is not TrackerName.none])
    parser.add_argument("sweep_dir", type=Path, help="a sweep folder (multirun/...) or a run folder")
    parser.add_argument("--dir", help="tensorboard: the folder of the event files (default: <sweep_dir>/tensorboard)")
    parser.add_argument("--uri", help="mlflow: the tracking URI (default: sqlite:///<sweep_dir>/mlflow/mlflow.db)")
    parser.add_argument("--experiment", help="mlflow: the experiment's name (default: the sweep folder's name)")
    parser.add_argument("--version", action="version", version=version_line())
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        print(f"error: {args.sweep_dir} is not a folder; give the folder of a sweep or of a run", file=sys.stderr)
        return 2
    settings = TrackerConfig(TrackerName(args.tracker), args.dir, args.uri, args.experiment)
    location = locate(settings, args.sweep_dir)
    try:
        logged, skipped, unreadable = export_sweep(open_tracker(location), args.sweep_dir)
    except NnexpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    where = location.dir if location.dir is not None else f"{location.uri}, experiment {location.experiment}"
    already = f", {skipped} logged before" if skipped else ""
    left_out = f", {unreadable} left out (summary.json unreadable)" if unreadable else ""
    print(f"{logged} runs exported to {args.tracker} ({where}){already}{left_out}")
    return 1 if unreadable else 0


if __name__ == "__main__":
    sys.exit(main())
