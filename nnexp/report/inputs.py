"""Whether a sweep's report is up to date: a digest of what it is built from, kept beside it.

The inputs are the sweep's files (each run folder's files but its log, and its ``.hydra`` record; the sweep plan), the
published tables it compares with, the report's options and its code, each known by its path, size and
modification time: a rerun that changed nothing finds the same digest and keeps the report as it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

from nnexp.resources import published_table
from nnexp.results.plan_file import PLAN_FILE

INPUTS_FILE = ".inputs.sha256"
CODE_DIR = Path(__file__).parent


def _versions(paths: list[Path]) -> list[tuple[str, int, int]]:
    found = []
    for path in paths:
        with contextlib.suppress(OSError):
            stat = path.stat()
            found.append((str(path), stat.st_size, stat.st_mtime_ns))
    return found


def report_inputs(sweep_dir: Path, out_dir: Path, options: dict[str, Any]) -> str:
    """The digest of the report of ``sweep_dir`` built into ``out_dir`` with ``options``."""
    runs = [path for path in sorted(sweep_dir.iterdir()) if path.is_dir() and path.resolve() != out_dir.resolve()]
    files = [
        sweep_dir / PLAN_FILE,
        *(file for run in runs for file in [*run.iterdir(), *run.glob(".hydra/*")] if file.suffix != ".log"),
    ]
    published = [published_table(p) for p in options.get("published") or []]  # where the report reads them
    code = sorted(CODE_DIR.glob("*.py"))
    record = {"options": options, "files": _versions([*files, *published, *code])}
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()


def is_up_to_date(out_dir: Path, digest: str) -> bool:
    """Whether the report in ``out_dir`` was built from the inputs ``digest`` names (and is there)."""
    try:
        return (out_dir / INPUTS_FILE).read_text().strip() == digest and (out_dir / "index.html").is_file()
    except OSError:
        return False


def record_inputs(out_dir: Path, digest: str) -> None:
    """Note the inputs the report in ``out_dir`` was just built from."""
    (out_dir / INPUTS_FILE).write_text(digest + "\n")
