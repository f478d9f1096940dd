"""Stopping a run on request: SIGTERM (what a scheduler sends to preempt), SIGINT (Ctrl-C), SIGHUP (the terminal
closed) or SIGQUIT (Ctrl-\\).

Within :func:`stop_on_signals` the signals only set a flag. The training loop looks at it
between steps (:func:`requested`): it saves a checkpoint and raises :class:`Interrupted`, so the
run ends with status ``interrupted`` and a rerun continues where it stopped. SIGHUP, where it is ignored when the
run starts (``nohup``), stays ignored; :func:`request` asks for a stop without any signal.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)

_requested: int | None = None
_current_handler: object = None  # the handler of the innermost stop_on_signals


class Interrupted(Exception):
    """Training stopped on a signal, with a checkpoint saved."""

    def __init__(self, signum: int, where: str) -> None:
        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name} {where}; a rerun resumes from there")

    @property
    def exit_status(self) -> int:
        """The shell's convention: 128 + the signal's number (143 for SIGTERM, 130 for SIGINT, 129 for SIGHUP)."""
        return 128 + self.signum


def requested() -> int | None:
    """The signal that asked training to stop, if one did."""
    return _requested


def request(signum: int) -> bool:
    """Ask the training within :func:`stop_on_signals` to stop as ``signum`` would, whatever that signal's
    disposition (from any thread); say whether a :func:`stop_on_signals` was there to take the request."""
    global _requested
    if _current_handler is None:
        return False
    _requested = signum
    return True


def heeded_signals() -> list[int]:
    """The :data:`SIGNALS` that stop work here: all but SIGHUP where it is ignored (``nohup``: a sweep meant to
    outlive its terminal). SIGINT and SIGQUIT are heeded even where ignored at start, as a shell ignores them for a
    command started in the background (``cmd &``): there they come from ``kill``, meant to stop the sweep."""
    return [
        signum for signum in SIGNALS if not (signum == signal.SIGHUP and signal.getsignal(signum) is signal.SIG_IGN)
    ]


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within: the :func:`heeded_signals` ask training to stop (in the main thread; elsewhere signals are as they
    were).

    Nested, the outer one keeps the request: a signal before training begins stops it before its first step.
    """
    global _requested, _current_handler
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    outermost = signal.getsignal(signal.SIGTERM) is not _current_handler
    previous = {signum: signal.getsignal(signum) for signum in heeded_signals()}

    def handle(signum: int, frame: object) -> None:
        request(signum)
        if callable(previous[signum]) and previous[signum] is not signal.default_int_handler:
            previous[signum](signum, frame)  # e.g. the launcher's, when the run is in the sweep's own process

    outer_handler, _current_handler = _current_handler, handle
    for signum in previous:
        signal.signal(signum, handle)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _current_handler = outer_handler
        if outermost:
            _requested = None
