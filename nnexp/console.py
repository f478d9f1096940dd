"""What the console shows: information on stdout, warnings and errors on stderr, ``-q`` for only the latter.

The logging configs ``conf/hydra/hydra_logging/nnexp.yaml`` (the sweep's own lines) and
``conf/hydra/job_logging/nnexp.yaml`` (a run's lines) send records below WARNING to stdout
(:class:`BelowWarning`) and the others to stderr, as bare messages; their stdout level is
:data:`LEVEL_VARIABLE` (``-q`` sets it to WARNING, for the workers too). A run's lines are marked
here and filtered by :func:`nnexp.task.quiet_console`; its log file (``run.log``) always has every line.
"""

from __future__ import annotations

import logging
import os

QUIET_FLAGS = ("-q", "--quiet")
LEVEL_VARIABLE = "NNEXP_CONSOLE_LEVEL"  # the lowest level shown on stdout (read by the logging configs)


class BelowWarning(logging.Filter):
    """Passes the records below WARNING: those of stdout (the others go to stderr)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


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
