"""The files a run leaves in its folder: the per-epoch metrics CSV, the summary JSON, the traceback.

``summary.json`` is the completion marker: it is written last, atomically, and records the
fingerprint of the configuration that produced it and what the run wrote (:func:`damage` checks it).
"""

from __future__ import annotations

import csv
import errno
import fcntl
import hashlib
import json
import math
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any

from nnexp.places import temporary_path
from nnexp.results.status import FINISHED
from nnexp.results.summary import RunSummary

METRICS_FILE = "metrics.csv"
SUMMARY_FILE = "summary.json"
ERROR_FILE = "error.txt"
LOCK_FILE = ".lock"
DAMAGED_PREFIX = "damaged-"  # the folders a damaged run's files are set aside in (set_aside)


class MetricsCSV:
    """A CSV with one row per epoch, flushed after every row: a killed process loses none. (Not synced to the disk
    row by row: after a power cut the run's files are checked against its summary, :func:`damage`, as the
    checkpoint is read or set aside; an fsync a row cost a pack of 40 runs a third of its training time.)

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
    tmp = temporary_path(path, "tmp")
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


def load_summary(path: Path) -> RunSummary:
    """The run summary in ``path`` (:func:`read_summary`, then :meth:`RunSummary.from_dict`). Raises ``OSError`` when
    it cannot be read and ``ValueError`` when it is not a summary."""
    return RunSummary.from_dict(read_summary(path))


@contextmanager
def locked(lock_file: Path, wait: bool = True) -> Iterator[None]:
    """Hold ``lock_file`` exclusively (``flock``): another process asking for it waits here (without ``wait``:
    ``BlockingIOError`` when another process holds it). The kernel releases the lock when its holder exits, also
    on kill -9."""
    with open(lock_file, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_lock(run_dir: Path, wait: bool = True) -> AbstractContextManager[None]:
    """Hold the run folder exclusively: a second process running the same configuration waits here (without
    ``wait``: ``BlockingIOError`` while another process holds it).

    (A search can propose one configuration twice in a parallel batch; the second run then
    finds the first one's result instead of writing into the same files.)
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    return locked(run_dir / LOCK_FILE, wait)


def read_finished(run_dir: Path) -> RunSummary | None:
    """The summary in ``run_dir`` if it is a finished run's (of any configuration, verified or not), else None."""
    try:
        summary = load_summary(run_dir / SUMMARY_FILE)
    except (OSError, ValueError):  # absent, or not a summary we wrote
        return None
    return summary if summary.status in FINISHED else None


def finished_summary(run_dir: Path, config_fingerprint: str, bad_data: set[str] = frozenset()) -> RunSummary | None:
    """The summary of a finished run of this exact configuration in ``run_dir`` whose files are those it records,
    else None (also when it trained on arrays of a cache entry found damaged since: a generation in ``bad_data``,
    its own or one its pool read images from)."""
    summary = read_finished(run_dir)
    if (
        summary is not None
        and summary.fingerprint == config_fingerprint
        and damage(run_dir, summary) is None
        and summary.data_cache not in bad_data
        and not bad_data.intersection(summary.pool_caches)
    ):
        return summary
    return None


def _described(path: Path) -> dict[str, Any]:
    content = path.read_bytes()
    description = {"sha256": hashlib.sha256(content).hexdigest()}
    if path.name == METRICS_FILE:  # its complete lines after the header
        description = {"rows": max(content.count(b"\n") - 1, 0), **description}
    return description


def written_files(run_dir: Path, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """What a run wrote, for its summary to record: each file's SHA-256, and the rows of the metrics CSV."""
    return {name: _described(run_dir / name) for name in names}


def damage(run_dir: Path, summary: RunSummary) -> str | None:
    """Why the files in ``run_dir`` are not those its finished run's ``summary`` records (one line), or None.

    A summary written before summaries recorded their files passes when its metrics CSV reads as the epochs
    1..``epochs_completed`` (see :func:`read_epoch_rows`).
    """
    caches = summary.pool_caches
    if not isinstance(summary.data_cache, str | None) or not (
        isinstance(caches, list) and all(isinstance(cache, str) for cache in caches)
    ):
        return f"{SUMMARY_FILE} records its data cache in a form nnexp does not write"
    files = summary.files
    if files is None:
        epochs = summary.epochs_completed
        if not isinstance(epochs, int) or isinstance(epochs, bool):
            return f"{SUMMARY_FILE} records neither the files nor the epochs of its run"
        try:
            read_epoch_rows(run_dir / METRICS_FILE, epochs)
        except ValueError:
            return f"{METRICS_FILE} does not hold the epochs its summary records (1..{epochs})"
        return None
    if not isinstance(files, dict) or not all(isinstance(recorded, dict) for recorded in files.values()):
        return f"{SUMMARY_FILE} records its files in a form nnexp does not write"
    if METRICS_FILE not in files:
        return f"{SUMMARY_FILE} does not record {METRICS_FILE}"
    for name, recorded in files.items():
        if not (run_dir / name).is_file():
            return f"{name} is missing"
        found = _described(run_dir / name)
        if found.get("rows") != recorded.get("rows"):
            return f"{name} has {found['rows']} row{'s' * (found['rows'] != 1)}, its summary records {recorded['rows']}"
        if found["sha256"] != recorded.get("sha256"):
            return f"{name} differs from the one its summary records (sha256)"
    return None


def set_aside(run_dir: Path, names: Iterable[str]) -> Path:
    """Move the files ``names`` of ``run_dir`` (those present) into a new subfolder ``damaged-<UTC time>``, and
    copy its ``*.log`` files there (a log handler may still be appending to them); the subfolder."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = run_dir / f"{DAMAGED_PREFIX}{stamp}"
    for n in count(2):
        try:
            aside.mkdir()
            break
        except FileExistsError:  # set aside twice within a second
            aside = run_dir / f"{DAMAGED_PREFIX}{stamp}-{n}"
    for name in names:
        if (run_dir / name).exists():
            os.replace(run_dir / name, aside / name)
    for log_file in run_dir.glob("*.log"):
        shutil.copy2(log_file, aside)
    return aside
