"""Decoded splits saved once as uncompressed ``.npy`` files and memory-mapped by every run.

A cache entry is a folder named by the hash of what the arrays are made from (the
source files or checksums, and the split and scaling settings). It is written under
a temporary name and renamed into place when complete, so a killed or concurrent
writer never leaves an entry that passes as whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from nnexp.data.splits import Preprocess, Splits

ARRAYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
META_FILE = "meta.json"
FORMAT = 1


def _entry(folder: Path, name: str, key: dict[str, Any]) -> Path:
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


def load_cached(folder: Path, name: str, key: dict[str, Any], n_classes: int) -> Splits | None:
    """The cached splits for ``key``, memory-mapped read-only; None if there is no complete entry."""
    entry = _entry(folder, name, key)
    if not (entry / META_FILE).exists():
        return None
    meta = json.loads((entry / META_FILE).read_text())
    arrays = {field: memory_map(entry / f"{field}.npy") for field in ARRAYS}
    scaling = {field: np.load(entry / f"{field}.npy") for field in ("mean", "std") if (entry / f"{field}.npy").exists()}
    return Splits(name=name, **arrays, preprocess=Preprocess(meta["pixel_max"], **scaling), n_classes=n_classes)


def save_cached(folder: Path, splits: Splits, key: dict[str, Any]) -> None:
    """Write ``splits`` as the entry for ``key`` (no-op if another process wrote it first)."""
    entry = _entry(folder, splits.name, key)
    if entry.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{entry.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for field in ARRAYS:
        np.save(tmp / f"{field}.npy", getattr(splits, field))
    prep = splits.preprocess
    if prep.mean is not None:
        np.save(tmp / "mean.npy", prep.mean)
        np.save(tmp / "std.npy", prep.std)
    (tmp / META_FILE).write_text(json.dumps({"pixel_max": prep.pixel_max, "key": key}, indent=1))
    try:
        os.rename(tmp, entry)
    except OSError:  # another run finished the same entry first
        shutil.rmtree(tmp, ignore_errors=True)
