"""Decoded splits saved once as uncompressed ``.npy`` files and memory-mapped by every run.

A cache entry is a folder named by the hash of what the arrays are made from (the data's
content identity, and the split and scaling settings). It is written under a temporary name
and renamed into place when complete, so a killed or concurrent writer never leaves an entry
that passes as whole. Its ``meta.json`` holds the md5 of every array file and a random
``generation``; :func:`verify` checks the files against it (a sweep does once, before its runs;
a run does when the files changed since the last check). An entry found damaged is recorded
as bad (the runs that used it are not finished) and built again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from nnexp.data.splits import Preprocess, Splits
from nnexp.places import temporary_path

ARRAYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
META_FILE = "meta.json"
VERIFIED_FILE = "verified"  # its time: when the arrays last matched their checksums
BAD_GENERATIONS = "bad_generations.json"
FORMAT = 3  # 3: meta.json records the image warnings


def entry_path(folder: Path, name: str, key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps({"format": FORMAT, **key}, sort_keys=True).encode()).hexdigest()[:20]
    return folder / f"{name}-{digest}"


def memory_map(path: Path) -> np.memmap:
    """The ``.npy`` file mapped read-only, the kernel advised to back it with huge pages where it can.

    Runs gather random rows of the images; with 4 KiB pages, parallel runs on the same mapping
    lose time to TLB misses (docs/performance.md).
    """
    array = np.load(path, mmap_mode="r")
    if hasattr(mmap, "MADV_HUGEPAGE") and array.size:  # Linux
        with contextlib.suppress(OSError):  # a kernel without transparent huge pages: advice only
            array._mmap.madvise(mmap.MADV_HUGEPAGE)  # np.memmap's mmap object
    return array


def file_md5(path: Path) -> str:
    """The md5 of a file's bytes, read in blocks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _array_files(entry: Path) -> list[Path]:
    return sorted(entry.glob("*.npy"))


def _read_meta(entry: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((entry / META_FILE).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _md5_or_error(path: Path) -> str | OSError:
    try:
        return file_md5(path)
    except OSError as exc:
        return exc


def damage(entry: Path) -> str | None:
    """What is wrong with a complete entry's arrays ('x_train.npy does not match its checksum'), or None. The files
    are hashed in parallel, a thread per usable CPU (hashlib lets go of the GIL while it hashes)."""
    meta = _read_meta(entry) or {}
    checksums = meta.get("md5")
    if not isinstance(checksums, dict):
        return f"{META_FILE} has no checksums"
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = max(1, min(len(checksums), cpus))
    with ThreadPoolExecutor(threads) as pool:
        digests = pool.map(_md5_or_error, [entry / name for name in checksums])
        for (name, expected), digest in zip(checksums.items(), digests):
            if isinstance(digest, OSError):
                return f"{name} cannot be read ({digest.strerror})"
            if digest != expected:
                return f"{name} does not match its checksum (changed, truncated or overwritten)"
    return None


def needs_check(entry: Path) -> bool:
    """Whether an array file changed since the entry was last found whole."""
    try:
        checked = (entry / VERIFIED_FILE).stat().st_mtime_ns
        return any(path.stat().st_mtime_ns > checked for path in _array_files(entry))
    except OSError:
        return True


def bad_generations(folder: Path) -> set[str]:
    """The generations of the entries in ``folder`` that were found damaged."""
    try:
        found = json.loads((folder / BAD_GENERATIONS).read_text())
    except (OSError, ValueError):
        return set()
    return {str(g) for g in found} if isinstance(found, list) else set()


def _mark_bad(folder: Path, generation: str) -> None:
    with contextlib.suppress(OSError):
        (folder / BAD_GENERATIONS).write_text(json.dumps(sorted(bad_generations(folder) | {generation})))


def verify(folder: Path, name: str, key: dict[str, Any]) -> str | None:
    """Check the entry for ``key`` against its checksums; a damaged one is recorded as bad and removed (the
    next :func:`save_cached` builds it again), and so is one whose metadata cannot be read. What was wrong,
    or None (no entry, or a whole one)."""
    entry = entry_path(folder, name, key)
    if not entry.exists():
        return None
    meta = _read_meta(entry)
    if meta is None:  # a folder without its metadata (damaged, or left by an interrupted removal)
        shutil.rmtree(entry, ignore_errors=True)
        return f"{entry}: {META_FILE} cannot be read"
    problem = damage(entry)
    if problem is None:
        with contextlib.suppress(OSError):
            (entry / VERIFIED_FILE).touch()
        return None
    _mark_bad(folder, str(meta.get("generation")))
    shutil.rmtree(entry, ignore_errors=True)
    return f"{entry}: {problem}"


def load_cached(folder: Path, name: str, key: dict[str, Any], n_classes: int) -> Splits | None:
    """The cached splits for ``key``, memory-mapped read-only (with the entry's generation); None if there is no
    complete entry."""
    entry = entry_path(folder, name, key)
    meta = _read_meta(entry)
    if meta is None:
        return None
    arrays = {field: memory_map(entry / f"{field}.npy") for field in ARRAYS}
    scaling = {field: np.load(entry / f"{field}.npy") for field in ("mean", "std") if (entry / f"{field}.npy").exists()}
    preprocess = Preprocess(meta["pixel_max"], **scaling)
    return Splits(
        name,
        **arrays,
        preprocess=preprocess,
        n_classes=n_classes,
        cache_generation=str(meta["generation"]),
        image_warnings=tuple(meta["image_warnings"]),
    )


def save_cached(folder: Path, splits: Splits, key: dict[str, Any]) -> None:
    """Write ``splits`` as the entry for ``key`` (no-op if another process wrote it first).

    On any error (e.g. a full disk) the partial entry is removed and the error raised.
    """
    entry = entry_path(folder, splits.name, key)
    if entry.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(entry, "tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        for field in ARRAYS:
            np.save(tmp / f"{field}.npy", getattr(splits, field))
        prep = splits.preprocess
        if prep.mean is not None:
            np.save(tmp / "mean.npy", prep.mean)
            np.save(tmp / "std.npy", prep.std)
        meta = {
            "pixel_max": prep.pixel_max,
            "image_warnings": list(splits.image_warnings),
            "key": key,
            "generation": uuid.uuid4().hex,
            "md5": {path.name: file_md5(path) for path in _array_files(tmp)},
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1))
        (tmp / VERIFIED_FILE).touch()
        with contextlib.suppress(OSError):  # another run finished the same entry first
            os.rename(tmp, entry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
