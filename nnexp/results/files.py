"""The files a run leaves in its folder: the per-epoch metrics CSV, the summary JSON, the traceback.

``summary.json`` is the completion marker: it is written last, atomically, and records the
fingerprint of the configuration that produced it.
"""

from __future__ import annotations

import csv
import errno
import fcntl
import json
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nnexp.results.status import FINISHED

METRICS_FILE = "metrics.csv"
SUMMARY_FILE = "summary.json"
ERROR_FILE = "error.txt"
LOCK_FILE = ".lock"


class MetricsCSV:
    """A CSV with one row per epoch, flushed to disk after every row.

    ``kept`` rows (of an interrupted run, see :func:`read_epoch_rows`) are written first.
    """

    def __init__(self, path: Path, columns: Sequence[str], kept: Sequence[dict[str, Any]] = ()) -> None:
        self.kept = list(kept)
        self._file = open(path, "w", newline="")  # noqa: SIM115  (open for the run's epochs, until close())
        self._writer = csv.DictWriter(self._file, fieldnames=list(columns))
        self._writer.writeheader()
        self._writer.writerows(self.kept)
        self._file.flush()

    def write(self, row: dict[str, Any]) -> None:
        self._writer.writerow(row)
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> MetricsCSV:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_epoch_rows(path: Path, epochs: int) -> list[dict[str, Any]]:
    """The rows of epochs 1..``epochs`` of a metrics CSV, as numbers (ints for ``epoch``, else floats).

    Raises ``ValueError`` when the file does not hold exactly those rows in order, readable.
    """
    kept = []
    try:
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                if len(kept) == epochs:
                    break
                kept.append({k: int(v) if k == "epoch" else float(v) for k, v in row.items()})
    except (OSError, TypeError, ValueError, csv.Error) as exc:
        raise ValueError(f"{path} cannot be read ({exc})") from None
    if [row["epoch"] for row in kept] != list(range(1, epochs + 1)):
        raise ValueError(f"{path} lacks some of epochs 1..{epochs}")
    return kept


def _json_safe(value: Any) -> Any:
    """NaN and infinities as strings, since JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON via a temporary file and a rename: readers never see half a file (and a failed
    write, e.g. on a full disk, leaves no temporary file behind)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as handle:
            json.dump(_json_safe(data), handle, indent=2, sort_keys=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# A write that failed for lack of space: the disk is full, a quota is used up, a file size limit reached.
DISK_FULL = {errno.ENOSPC: "no space left", errno.EDQUOT: "disk quota exceeded", errno.EFBIG: "file size limit"}


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_FULL


def disk_full_message(exc: OSError, where: Path) -> str:
    """'disk full (no space left) writing <path>': one line that names the file (or folder) that could not grow."""
    return f"disk full ({DISK_FULL[exc.errno]}) writing {exc.filename or where}"


def read_summary(path: Path) -> dict[str, Any]:
    """A summary written by :func:`write_json_atomic` (non-finite numbers restored as floats).

    Raises ``OSError`` when it cannot be read and ``ValueError`` when it is not a JSON object.
    """

    def restore(value: Any) -> Any:
        if value in ("nan", "inf", "-inf"):
            return float(value)
        return value

    summary = json.loads(path.read_text(), object_hook=lambda d: {k: restore(v) for k, v in d.items()})
    if not isinstance(summary, dict):
        raise ValueError(f"{path} holds {type(summary).__name__}, not a summary")
    return summary


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run folder exclusively: a second process running the same configuration waits here.

    (A search can propose one configuration twice in a parallel batch; the second run then
    finds the first one's result instead of writing into the same files.) The kernel
    releases the lock when its holder exits, also on kill -9.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOCK_FILE, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def finished_summary(run_dir: Path, config_fingerprint: str, bad_data: set[str] = frozenset()) -> dict[str, Any] | None:
    """The summary of a finished run of this exact configuration in ``run_dir``, else None (also when it trained on
    arrays of a cache entry found damaged since: a generation in ``bad_data``)."""
    try:
        summary = read_summary(run_dir / SUMMARY_FILE)
    except (OSError, ValueError):  # absent, or not a summary we wrote
        return None
    if (
        summary.get("status") in FINISHED
        and summary.get("fingerprint") == config_fingerprint
        and summary.get("data_cache") not in bad_data
    ):
        return summary
    return None
