"""The folders nnexp writes into: checked before any work, and cleared of what killed processes left half-written
(files and folders named with their writer's process id, removed at the next start once that process is gone)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)


def make_writable(folder: Path) -> None:
    """Make ``folder`` (and its parents) if need be and check that a file can be written there; OSError if not."""
    probe = folder / f".write_test.{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    probe.touch()
    probe.unlink()


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_leftovers(folder: Path, pattern: str, what: str) -> None:
    """Remove the files or folders in ``folder`` matching ``pattern`` (``.<name>.<pid>.<suffix>``) whose writer
    (``pid``) is gone, one log line each ('removed <path>, <what> of an interrupted process')."""
    for left in folder.glob(pattern):
        pid = left.name.split(".")[-2]
        if not pid.isdigit() or process_alive(int(pid)):
            continue
        with contextlib.suppress(OSError):  # gone meanwhile, or a folder we cannot write: left as it is
            shutil.rmtree(left) if left.is_dir() else left.unlink()
            log.info("removed %s, %s of an interrupted process", left, what)
