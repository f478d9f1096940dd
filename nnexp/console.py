"""What the console shows: results on stdout, diagnostics (progress, context, warnings, errors) on stderr, ``-q`` for
only the warnings and errors; no colour.

The logging configs ``conf/hydra/hydra_logging/nnexp.yaml`` (the sweep's own lines) and
``conf/hydra/job_logging/nnexp.yaml`` (a run's lines) send the records marked :data:`RESULT_LINE` (below WARNING)
to stdout (:class:`Results`) and every other one to stderr (:class:`Diagnostics`), as bare messages; their level
is :data:`LEVEL_VARIABLE` (``-q`` sets it to WARNING, for the workers too). A run's lines are marked here and
filtered by :func:`nnexp.task.quiet_console`; its log file (``run.log``) always has every line.
"""

from __future__ import annotations

import logging
import os

from nnexp import __version__

QUIET_FLAGS = ("-q", "--quiet")
LEVEL_VARIABLE = "NNEXP_CONSOLE_LEVEL"  # the lowest level shown on the console (read by the logging configs)
# Marks a command's results: a sweep's line per run, its outcome and report, a single run's folder (stdout)
RESULT_LINE = {"result_line": True}


def is_result(record: logging.LogRecord) -> bool:
    """Whether ``record`` is one of the command's results: marked :data:`RESULT_LINE`, and not a warning."""
    return record.levelno < logging.WARNING and getattr(record, "result_line", False)


class Results(logging.Filter):
    """Passes the records of stdout: the results."""

    def filter(self, record: logging.LogRecord) -> bool:
        return is_result(record)


class Diagnostics(logging.Filter):
    """Passes the records of stderr: every one but the results."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not is_result(record)


def version_line() -> str:
    """What ``--version`` prints, whichever command: ``nnexp 0.1.0``."""
    return f"nnexp {__version__}"


def set_quiet() -> None:
    """Show only warnings and errors from now on, in this process and the processes it starts."""
    os.environ[LEVEL_VARIABLE] = "WARNING"


def is_quiet() -> bool:
    """Whether the console shows only warnings and errors (``-q``): no progress bar either."""
    return os.environ.get(LEVEL_VARIABLE, "").upper() in ("WARNING", "ERROR", "CRITICAL")


# Marks the per-epoch lines: the run's log file has them all, the console only with verbose=true (nnexp.task).
EPOCH_LINE = {"epoch_line": True}
# Marks the lines of a run that a sweep's console shows too (e.g. "resuming ..."): of its other lines, the
# sweep's console shows the warnings and errors, and its own line per ended run (nnexp.sweep.progress).
SWEEP_LINE = {"sweep_line": True}


def not_an_epoch_line(record: logging.LogRecord) -> bool:
    """A logging filter that passes every line but the per-epoch ones."""
    return not getattr(record, "epoch_line", False)


def a_sweep_line(record: logging.LogRecord) -> bool:
    """A logging filter for a run in a sweep: its warnings and errors, lines marked :data:`SWEEP_LINE`, and the
    lines of other loggers (Hydra's, the sweep's)."""
    from_run = record.name.startswith("nnexp.") and not record.name.startswith("nnexp.sweep")
    return not from_run or record.levelno >= logging.WARNING or getattr(record, "sweep_line", False)
