"""What the console shows of a run: its log lines are marked here, and filtered by :func:`nnexp.run.quiet_console`.

The run's log file (``run.log``) always has every line.
"""

from __future__ import annotations

import logging

# Marks the per-epoch lines: the run's log file has them all, the console only with verbose=true (nnexp.run).
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
