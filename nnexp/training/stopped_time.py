"""A clock that stands still while the process is stopped (SIGSTOP or Ctrl-Z, then SIGCONT): the time a run
spends stopped is not training time.

No clock of the kernel leaves out the time a process is stopped, and a stop cannot be caught; its end can
(SIGCONT). Within :func:`count_stopped_time` a thread notes the time every :data:`TICK_SECONDS`; a stop freezes
it with the rest of the process, so on SIGCONT the longest gap between recent ticks, less one tick, is the time
stopped (counted short by at most a tick). The handler runs in the main thread before its next line, so a
duration measured there with :func:`active_time` never includes a stop it has already lived through.
"""

from __future__ import annotations

import collections
import itertools
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

TICK_SECONDS = 0.1
RECENT_TICKS = 32  # the ticks kept: a SIGCONT handled up to 3 s late (a long NumPy call) still finds its gap

_stopped_seconds = 0.0


def active_time() -> float:
    """Seconds, as :func:`time.perf_counter`, less the time this process spent stopped (within
    :func:`count_stopped_time`): differences are the time spent running."""
    return time.perf_counter() - _stopped_seconds


def _recent_ticks(first: float) -> collections.deque[float]:
    return collections.deque([first], maxlen=RECENT_TICKS)


@contextmanager
def count_stopped_time() -> Iterator[None]:
    """Within: the time the process spends stopped is left out of :func:`active_time` (in the main thread, where
    signals are handled; elsewhere nothing is counted)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    ticks = _recent_ticks(time.perf_counter())
    done = threading.Event()

    def tick() -> None:
        while not done.wait(TICK_SECONDS):
            ticks.append(time.perf_counter())

    def continued(signum: int, frame: object) -> None:
        # A second SIGCONT can be handled between any two lines of this (a nested call): the ticks are replaced in
        # one assignment, so the nested call finds them never empty, either the old or the new ones.
        nonlocal ticks
        global _stopped_seconds
        now = time.perf_counter()
        earlier_ticks, ticks = ticks, _recent_ticks(now)
        gap = max(later - earlier for earlier, later in itertools.pairwise([*earlier_ticks, now]))
        _stopped_seconds += max(0.0, gap - TICK_SECONDS)

    previous = signal.signal(signal.SIGCONT, continued)
    ticker = threading.Thread(target=tick, name="nnexp-stopped-time", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        signal.signal(signal.SIGCONT, previous)
        done.set()
        ticker.join()
