"""Writers of a run's results: the per-epoch metrics CSV and the summary JSON."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

METRICS_FILE = "metrics.csv"
SUMMARY_FILE = "summary.json"
ERROR_FILE = "error.txt"


class MetricsCSV:
    """A CSV with one row per epoch, flushed to disk after every row."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self._file = open(path, "w", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=list(columns))
        self._writer.writeheader()
        self._file.flush()

    def write(self, row: dict[str, Any]) -> None:
        self._writer.writerow(row)
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "MetricsCSV":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
    """Write ``data`` as JSON via a temporary file and a rename: readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as handle:
        json.dump(_json_safe(data), handle, indent=2, sort_keys=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_summary(path: Path) -> dict[str, Any]:
    """A summary written by :func:`write_json_atomic` (non-finite numbers restored as floats)."""

    def restore(value: Any) -> Any:
        if value in ("nan", "inf", "-inf"):
            return float(value)
        return value

    return json.loads(path.read_text(), object_hook=lambda d: {k: restore(v) for k, v in d.items()})
