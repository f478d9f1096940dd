"""Worker processes that end with the process that started them, however it ended (even ``kill -9``).

joblib's loky workers wait for work for minutes after their parent is gone, and a run in one trains on. Each
worker started with :func:`worker_options` watches its parent (Linux gives a process no event for that: it
polls ``os.getppid()``, which changes when the parent ends). When the parent is gone the worker sends itself
SIGHUP, the signal of a lost controlling process: a run stops as on any stop signal (a checkpoint, status
``interrupted``), an idle worker ends at once; whatever still runs :data:`GRACE_SECONDS` later is ended.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

POLL_SECONDS = 0.25
GRACE_SECONDS = 2.0  # for a run to save its checkpoint (at most 64 steps away) and record its status


def worker_options() -> dict[str, Any]:
    """``joblib.Parallel``'s arguments that make each of its (loky) worker processes end with this process."""
    return {"initializer": end_with_parent, "initargs": (os.getpid(),)}


def end_with_parent(parent: int) -> None:
    """(In a worker process, first thing) end this process within seconds of ``parent`` ending."""
    threading.Thread(target=_watch, args=(parent,), name="nnexp-parent-watch", daemon=True).start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGHUP)
    time.sleep(GRACE_SECONDS)
    os._exit(128 + signal.SIGHUP)
