"""The report's options checked: before a sweep starts (against its configuration) and before a report is built.

Plain Python (no pandas): a sweep checks ``report.rows``, ``report.cols``, ``report.metrics`` and
``report.published`` in its first second.
"""

from __future__ import annotations

from typing import Any

from nnexp.errors import ReportError
from nnexp.report.columns import config_columns
from nnexp.report.metrics import METRICS
from nnexp.resources import PUBLISHED_DIR, published_table


def check_options(names: list[str], rows: str, cols: str, metrics: list[str], published: list[str] = ()) -> None:
    """The report's options checked against the setting names of its runs (``names``; before a sweep: those
    of its configuration); raises :class:`ReportError` with one line."""
    for option, value in (("rows", rows), ("cols", cols)):
        if value not in names:
            raise ReportError(f"report.{option}={value} is not a setting of these runs; allowed: {', '.join(names)}")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ReportError(f"report.metrics: {', '.join(unknown)} unknown; allowed: {', '.join(METRICS)}")
    for path in published:
        if not published_table(path).is_file():
            known = sorted(p.name for p in PUBLISHED_DIR.glob("*.csv"))
            raise ReportError(
                f"report.published: {path} is not a file; allowed: published tables such as experiments/"
                f"{{{','.join(known)}}}"
            )


def check_sweep_options(config: dict[str, Any], report: Any) -> None:
    """The options of the report ``report`` (the ``report`` node of a sweep's config) checked against the settings
    of a run whose configuration record is ``config``."""
    names = list(config_columns(config))
    check_options(names, report.rows, report.cols, list(report.metrics), list(report.published))
