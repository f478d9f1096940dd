"""The folders nnexp writes into: checked before any work, and cleared of what killed processes left half-written.

Every file or folder written under a temporary name first is named ``.<name>.<host>-<pid>.<suffix>`` by
:func:`temporary_path`: the writer's host and process id. At the next start :func:`remove_leftovers` removes those
whose writer ran on this host and is gone; those of other hosts (a cache shared over NFS, a cluster's nodes) are
left alone, since whether their writer lives cannot be known here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger(__name__)

# .<name>.<host>-<pid>.<suffix>: the host made of letters, digits and underscores (see writer_tag)
TEMPORARY_NAME = re.compile(r"\.(?P<name>.+)\.(?P<host>[A-Za-z0-9_]+)-(?P<pid>[0-9]+)\.(?P<suffix>[a-z]+(\.[a-z]+)*)")


class Writer(NamedTuple):
    """Who writes a temporary file: a process on a host, and the name the file will have once complete."""

    name: str
    host: str
    pid: int


def this_host() -> str:
    """This machine's name as a temporary file's name holds it: every character but letters and digits as ``_``."""
    return re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname())


def writer_tag() -> str:
    """``<host>-<pid>``: this process, told apart from every other one that may write into the same folder."""
    return f"{this_host()}-{os.getpid()}"


def temporary_path(path: Path, suffix: str) -> Path:
    """Where this process writes ``path`` before renaming it into place: ``.<name>.<host>-<pid>.<suffix>``."""
    return path.with_name(f".{path.name}.{writer_tag()}.{suffix}")


def parse_temporary(file_name: str) -> Writer | None:
    """The writer of a file :func:`temporary_path` named; None for any other name."""
    match = TEMPORARY_NAME.fullmatch(file_name)
    if match is None:
        return None
    return Writer(match["name"], match["host"], int(match["pid"]))


def make_writable(folder: Path) -> None:
    """Make ``folder`` (and its parents) if need be and check that a file can be written there; OSError if not."""
    probe = temporary_path(folder / "write_test", "tmp")
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


def remove_leftovers(folder: Path) -> None:
    """Remove the temporary files and folders in ``folder`` (see :func:`temporary_path`) whose writer ran on this
    host and is gone, one log line each; those of other hosts are left as they are."""
    host = this_host()
    for left in folder.glob(".*"):
        writer = parse_temporary(left.name)
        if writer is None or writer.host != host or process_alive(writer.pid):
            continue
        with contextlib.suppress(OSError):  # gone meanwhile, or a folder we cannot write: left as it is
            shutil.rmtree(left) if left.is_dir() else left.unlink()
            log.info("removed %s, the unfinished %s of an interrupted process (pid %d)", left, writer.name, writer.pid)
