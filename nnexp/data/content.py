"""What a data set's files hold: md5 digests of their decompressed content, and the official files they match.

A digest is computed once per file version: the result is kept in a small index in the data
set's cache folder, keyed by the file's resolved path, size and modification time, so the runs
of a sweep (and later sweeps) look it up instead of decompressing the files again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from nnexp.data.idx import read_bytes
from nnexp.places import temporary_path

DIGEST_INDEX = "digests.json"
ROLES = ("train_images", "train_labels", "test_images", "test_labels")

# md5 of the decompressed official files, by role (the values torchvision checks; ../shared/data/README.md)
OFFICIAL = {
    "MNIST": {
        "train_images": "6bbc9ace898e44ae57da46a324031adb",
        "train_labels": "a25bea736e30d166cdddb491f175f624",
        "test_images": "2646ac647ad5339dbf082846283269ea",
        "test_labels": "27ae3e4e09519cfbb04c329615203637",
    },
    "Fashion-MNIST": {
        "train_images": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train_labels": "9018921c3c673c538a1fc5bad174d6f9",
        "test_images": "8181f5470baa50b63fa0f6fddb340f0a",
        "test_labels": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}
OFFICIAL_COUNTS = (60_000, 10_000)  # training and test images of both
# md5 of the official .gz files (what a download is verified by) -> md5 of their decompressed content
OFFICIAL_GZ = {
    "f68b3c2dcbeaaa9fbdd348bbdeb94873": OFFICIAL["MNIST"]["train_images"],
    "d53e105ee54ea40749a09fcbcd1e9432": OFFICIAL["MNIST"]["train_labels"],
    "9fb629c4189551a2d022fa330f9573f3": OFFICIAL["MNIST"]["test_images"],
    "ec29112dd5afa0611ce80d1b7f02629c": OFFICIAL["MNIST"]["test_labels"],
    "8d4fb7e6c68d591d4c3dfef9ec88bf0d": OFFICIAL["Fashion-MNIST"]["train_images"],
    "25c81989df183df01b3e8a0aad5dffbe": OFFICIAL["Fashion-MNIST"]["train_labels"],
    "bef4ecab320f06d8554ea6380940ec79": OFFICIAL["Fashion-MNIST"]["test_images"],
    "bb300cfdad3c16e7a12a480ee83cd310": OFFICIAL["Fashion-MNIST"]["test_labels"],
}


@dataclass(frozen=True)
class DataIdentity:
    """What a data set is, by content: ``digest`` (one hash of everything the arrays are made from) and a
    ``description`` for people, e.g. "MNIST, official files (60,000 / 10,000)"."""

    digest: str
    description: str

    def to_dict(self) -> dict[str, str]:
        return {"digest": self.digest, "description": self.description}


def combined_digest(parts: dict[str, str]) -> str:
    """One short hash of named digests (or other identifying strings)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _index_path(cache: Path) -> Path:
    return cache / DIGEST_INDEX


def _read_index(cache: Path) -> dict[str, list]:
    try:
        index = json.loads(_index_path(cache).read_text())
    except (OSError, ValueError):
        return {}
    return index if isinstance(index, dict) else {}


def _write_index(cache: Path, index: dict[str, list]) -> None:
    """Best effort: an index that cannot be written only costs a recomputation next time."""
    tmp = temporary_path(_index_path(cache), "tmp")
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(index, indent=1, sort_keys=True))
        os.replace(tmp, _index_path(cache))
    except OSError:
        tmp.unlink(missing_ok=True)


def content_md5(path: Path) -> str:
    """md5 of the file's content, decompressed if it is gzip-compressed (a damaged one: DataFileError)."""
    return hashlib.md5(read_bytes(path), usedforsecurity=False).hexdigest()


def file_digests(paths: dict[str, Path], cache: Path) -> dict[str, str]:
    """The decompressed content's md5 of each file (by role), looked up in ``cache``'s index when the file's
    path, size and modification time are unchanged, computed (and recorded) otherwise."""
    index = _read_index(cache)
    digests, changed = {}, False
    for role, path in paths.items():
        resolved = path.resolve()
        stat = resolved.stat()
        version = [stat.st_size, stat.st_mtime_ns]
        known = index.get(str(resolved))
        if isinstance(known, list) and known[:2] == version and len(known) == 3:
            digests[role] = known[2]
        else:
            digests[role] = content_md5(resolved)
            index[str(resolved)] = [*version, digests[role]]
            changed = True
    if changed:
        _write_index(cache, index)
    return digests


def describe_files(digests: dict[str, str], n_train: int, n_test: int) -> DataIdentity:
    """The identity of four IDX files from their digests: the official data set they are, or their hash."""
    counts = f"{n_train:,} / {n_test:,}"
    for name, official in OFFICIAL.items():
        if digests == official:
            return DataIdentity(combined_digest(digests), f"{name}, official files ({counts})")
    digest = combined_digest(digests)
    near = [name for name, official in OFFICIAL.items() if digests.get("test_images") == official["test_images"]]
    what = f"not the official {near[0]} files" if near else "files of no official data set"
    return DataIdentity(digest, f"{what}: {digest}, {counts} images")
