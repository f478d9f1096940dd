"""Worker processes that end with the process that started them, however it ended (even ``kill -9``).

joblib's loky workers wait for work for minutes after their parent is gone, and a run in one trains on. Each
worker started with :func:`worker_options` watches its parent: a thread polls ``os.getppid()``, which changes
when the parent ends. (Linux can send a process a signal when its parent dies, ``prctl(PR_SET_PDEATHSIG)``, but
Python reaches it only through ctypes, it fires when the *thread* that started the worker ends (loky's manager
thread starts some workers), and a signal may be ignored: SIGHUP under ``nohup``, inherited by the workers.)
When the parent is gone, the work in the worker is asked to stop as on a lost controlling process (SIGHUP), by a
call rather than a signal: a run stops as on any stop signal (a checkpoint, status ``interrupted``) and the
worker ends :data:`GRACE_SECONDS` later; an idle worker ends at once.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

POLL_SECONDS = 0.25
GRACE_SECONDS = 2.0  # for a run to save its checkpoint (at most 64 steps away) and record its status

StopWork = Callable[[int], bool]  # asks the work running to stop as a signal would; says whether any was running


def worker_options(stop_work: StopWork | None = None) -> dict[str, Any]:
    """``joblib.Parallel``'s arguments that make each of its (loky) worker processes end with this process, after
    ``stop_work(SIGHUP)`` (a module's function: it is sent to the workers) when that says work was running."""
    return {"initializer": end_with_parent, "initargs": (os.getpid(), stop_work)}


def end_with_parent(parent: int, stop_work: StopWork | None = None) -> None:
    """(In a worker process, first thing) end this process within seconds of ``parent`` ending."""
    threading.Thread(target=_watch, args=(parent, stop_work), name="nnexp-parent-watch", daemon=True).start()


def _watch(parent: int, stop_work: StopWork | None) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    if stop_work is not None and stop_work(signal.SIGHUP):
        time.sleep(GRACE_SECONDS)
    os._exit(128 + signal.SIGHUP)
