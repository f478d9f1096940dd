"""Live progress of a sweep in the terminal (tqdm): runs done of all, failures, elapsed time and ETA.

The runs execute in worker processes, so the bar is driven by a thread of the sweep's
own process that watches the run folders for new ``summary.json`` files.
"""

from __future__ import annotations

import threading
from pathlib import Path

from tqdm import tqdm

from nnexp.results import SUMMARY_FILE, RunStatus, read_summary

POLL_SECONDS = 0.5


def _status(path: Path) -> str:
    try:
        return read_summary(path).get("status", "")
    except (OSError, ValueError):
        return RunStatus.unreadable


class SweepProgress:
    """A progress bar over the runs of ``sweep_dir``; shown only when the output is a terminal."""

    def __init__(self, sweep_dir: Path, total: int | None, skipped: int = 0) -> None:
        self.sweep_dir = sweep_dir
        self.skipped = skipped
        self._seen = {path: _status(path) for path in sweep_dir.rglob(SUMMARY_FILE)}
        self._bar = tqdm(
            total=total, initial=len(self._seen), desc="sweep", unit="run", dynamic_ncols=True, disable=None
        )
        self._show_counts()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="nnexp-progress", daemon=True)
        self._thread.start()

    def _show_counts(self) -> None:
        failed = sum(status == RunStatus.failed for status in self._seen.values())
        self._bar.set_postfix(skipped=self.skipped, failed=failed)

    def update(self) -> None:
        """Count the summaries written since the last look."""
        new = [path for path in self.sweep_dir.rglob(SUMMARY_FILE) if path not in self._seen]
        self._seen.update({path: _status(path) for path in new})
        if new:
            self._show_counts()
            self._bar.update(len(new))

    def _watch(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            self.update()

    def close(self) -> None:
        """Stop watching, count the last runs and close the bar."""
        self._stop.set()
        self._thread.join()
        self.update()
        self._bar.close()
