"""``python -m nnexp.run ARGS`` inside this process, for :mod:`nnexp.api`: the same entry point, none of a command's
habits.

Hydra runs a sweep only through its ``@hydra.main`` function (:func:`nnexp.task.main`), which reads ``sys.argv``
(its Compose API only composes: no sweeper, launcher, folders or logging). Run from a notebook, that function
would leave a command line's traces in the process: it configures the logging of the whole process (its
console lines, a run's log file), and it ends with ``sys.exit`` (Hydra on an error, nnexp's callbacks and task
with the command's exit status). :func:`run_entry_point` puts ``sys.argv`` and the logging back as they were,
and turns each exit into what a Python caller expects: the exception that made the command exit (the same
:class:`~nnexp.errors.NnexpError` and one-line message the command line prints), :class:`Interrupted` for a
sweep stopped by a signal, else the exit status.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from nnexp.errors import NnexpError
from nnexp.training.interrupt import Interrupted

# Hydra's documented switch: an error is raised to the caller, not printed and ended with sys.exit(1)
FULL_ERROR = "HYDRA_FULL_ERROR"
SIGNAL_STATUS = 128  # a process stopped by signal N exits with 128 + N


@contextmanager
def _argv(args: list[str]) -> Iterator[None]:
    saved = sys.argv
    sys.argv = ["nnexp.run", *args]
    try:
        yield
    finally:
        sys.argv = saved


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            del os.environ[name]
        else:
            os.environ[name] = saved


def _loggers() -> list[logging.Logger]:
    """The root logger and every other that exists (the manager also holds placeholders of parents)."""
    named = logging.Logger.manager.loggerDict.values()
    return [logging.getLogger(), *(logger for logger in named if isinstance(logger, logging.Logger))]


@contextmanager
def logging_kept() -> Iterator[None]:
    """Within: anything may configure logging (Hydra's ``dictConfig``); after: every logger as it was (level,
    handlers, filters, propagation), the handlers added meanwhile closed, loggers made meanwhile left as new."""
    saved = {
        logger: (logger.level, list(logger.handlers), list(logger.filters), logger.propagate, logger.disabled)
        for logger in _loggers()
    }
    raise_exceptions = logging.raiseExceptions
    try:
        yield
    finally:
        kept = {handler for _, handlers, *_ in saved.values() for handler in handlers}
        for logger in _loggers():
            level, handlers, filters, propagate, disabled = saved.get(logger, (logging.NOTSET, [], [], True, False))
            for handler in logger.handlers:
                if handler not in kept:
                    handler.close()
            logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.filters[:] = filters
            logger.propagate, logger.disabled = propagate, disabled
        logging.raiseExceptions = raise_exceptions


def run_entry_point(args: list[str]) -> int:
    """Run :func:`nnexp.task.main` (Hydra's entry point of ``python -m nnexp.run``) with the command line ``args``;
    0 when it ended well, else the exit status of an end that no exception explains (e.g. 1: a sweep with a
    failed run).

    Raises the exception that made it exit (a bad value, data that cannot be had, a run that failed), and
    :class:`Interrupted` when a signal stopped the sweep (SIGINT: a notebook's interrupt).
    """
    from nnexp.task import main

    with _argv(args), _environment(FULL_ERROR, "1"), logging_kept():
        try:
            main()
        except SystemExit as stop:
            cause, code = stop.__context__, stop.code
        else:
            return 0
    status = 0 if code is None else code if isinstance(code, int) else 1  # sys.exit("message"): status 1
    if not status:
        return 0
    if isinstance(cause, NnexpError):  # its message says it all, as the command line's one line
        raise cause.with_traceback(None)
    if cause is not None:
        raise cause  # raised outside the handler: its own traceback and chain, no SystemExit in it
    if status > SIGNAL_STATUS:
        raise Interrupted(status - SIGNAL_STATUS, "while the sweep ran")
    return status
