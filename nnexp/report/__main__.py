"""Command line of the report: ``python -m nnexp.report <sweep folder> [options]``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from nnexp.console import version_line
from nnexp.errors import ReportError
from nnexp.parent_watch import worker_options
from nnexp.report.build import build_comparison, build_report, report_folder
from nnexp.report.metrics import METRICS


def main(argv: list[str] | None = None) -> int:
    """Build the report of a sweep folder; exit status 2 with one line on bad input."""
    parser = argparse.ArgumentParser(prog="python -m nnexp.report", description=__doc__)
    parser.add_argument(
        "sweep_dir", type=Path, nargs="+", help="a sweep folder (multirun/...) or a run folder; several with --compare"
    )
    parser.add_argument("--compare", action="store_true", help="compare the sweeps side by side in one report")
    parser.add_argument(
        "--out",
        type=Path,
        help="output folder (default: <sweep folder>/report; with --compare, compare_<a>_vs_<b> beside the first one)",
    )
    parser.add_argument("--rows", default="hidden", help="config key shown as table rows (default: hidden)")
    parser.add_argument("--cols", default="activation", help="config key shown as table columns (default: activation)")
    parser.add_argument(
        "--metrics",
        default="test_acc,train_seconds",
        help=f"comma-separated metrics, one table each; from: {', '.join(METRICS)}",
    )
    parser.add_argument(
        "--published",
        type=Path,
        nargs="*",
        default=[],
        help="published tables (experiments/*.csv) to compare the runs with",
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="processes drawing the figures (default 1; -1: one per core)"
    )
    parser.add_argument("--version", action="version", version=version_line())
    args = parser.parse_args(argv)
    if args.jobs == 0 or args.jobs < -1:
        parser.error(f"--jobs={args.jobs} is invalid; allowed: an int >= 1, or -1 (one per core)")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    metrics = [m for m in args.metrics.split(",") if m]
    names = [d.resolve().name for d in args.sweep_dir]
    if len(names) > 1 and not args.compare:
        parser.error("several sweep folders: add --compare to compare them")
    if args.out:
        out = args.out
    elif args.compare:
        out = args.sweep_dir[0].resolve().parent / ("compare_" + "_vs_".join(names))
    else:
        out = report_folder(args.sweep_dir[0])
    try:
        parallel = {"n_jobs": args.jobs, **worker_options()} if args.jobs != 1 else None
        if args.compare:
            index = build_comparison(args.sweep_dir, out, args.rows, args.cols, metrics, parallel)
        else:
            index = build_report(args.sweep_dir[0], out, args.rows, args.cols, metrics, args.published, parallel)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(index.with_name("index.html"))  # the page to open (index.md beside it)
    return 0


if __name__ == "__main__":
    sys.exit(main())
