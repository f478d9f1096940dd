"""Live progress of a sweep: a bar in a terminal or a notebook (tqdm.auto) and one line for each run that ends.

The runs execute in worker processes, so progress is followed by a thread of the sweep's
own process that watches the sweep's run folders for ``summary.json`` files written since it started.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from tqdm.auto import tqdm  # a widget in a notebook, else the terminal's bar

from nnexp.console import RESULT_LINE, is_quiet
from nnexp.results import SUMMARY_FILE, RunStatus, RunSummary, load_summary

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5


def _modified(path: Path) -> float | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def run_line(folder: str, summary: RunSummary) -> str:
    """'completed: hidden=64,seed=1 — test accuracy 97.12%, 12.3 s' (the error for a run that did not finish)."""
    status = summary.status
    if status in (RunStatus.completed, RunStatus.diverged):
        return f"{status}: {folder} — test accuracy {100 * summary.test_acc:.2f}%, {summary.train_seconds:.1f} s"
    return f"{status}: {folder} — {summary.error or 'no error recorded'}"


class _SweepBar(tqdm):
    """The sweep's bar, without tqdm's monitor thread (it refreshes bars that are rarely updated; this one is updated
    by the sweep's own watcher): no thread of tqdm's outlives the sweep."""

    monitor_interval = 0


class SweepProgress:
    """Follows the runs ``runs`` (folder names; None: every folder of ``sweep_dir``, for a search) of a sweep,
    ``skipped`` of them finished before it started. The bar shows only when the output is a terminal, and not
    with ``-q``."""

    def __init__(self, sweep_dir: Path, runs: list[str] | None, skipped: int = 0) -> None:
        self.sweep_dir = sweep_dir
        self.runs = runs
        self.skipped = skipped
        self.failed = 0
        self._seen = {folder: _modified(sweep_dir / folder / SUMMARY_FILE) for folder in self._folders()}
        self._done = skipped
        self._bar = _SweepBar(
            total=len(runs) if runs is not None else None,
            initial=skipped,
            desc="sweep",
            unit="run",
            dynamic_ncols=True,
            disable=True if is_quiet() else None,  # None: shown in a terminal only
        )
        self._show_counts()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="nnexp-progress", daemon=True)
        self._thread.start()

    def _folders(self) -> list[str]:
        if self.runs is not None:
            return self.runs
        return sorted(p.parent.name for p in self.sweep_dir.glob(f"*/{SUMMARY_FILE}"))

    def _show_counts(self) -> None:
        self._bar.set_postfix(skipped=self.skipped, failed=self.failed)

    def update(self) -> None:
        """Count, and say in one line each, the runs that ended since the last look."""
        for folder in self._folders():
            modified = _modified(self.sweep_dir / folder / SUMMARY_FILE)
            if modified is None or modified == self._seen.get(folder):
                continue
            self._seen[folder] = modified
            try:
                summary = load_summary(self.sweep_dir / folder / SUMMARY_FILE)
            except OSError:
                continue  # gone meanwhile: the next look reads it again
            except ValueError as exc:  # not a summary nnexp reads: counted, and said
                summary = RunSummary(RunStatus.unreadable, "", error=f"summary.json {exc}")
            self._done += 1
            self.failed += summary.status == RunStatus.failed
            total = len(self.runs) if self.runs is not None else "?"
            self._bar.clear()
            log.info("run %d/%s %s", self._done, total, run_line(folder, summary), extra=RESULT_LINE)
            self._bar.update(1)
            self._show_counts()

    def _watch(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            self.update()

    def close(self) -> None:
        """Stop watching, count the last runs and close the bar."""
        self._stop.set()
        self._thread.join()
        self.update()
        self._bar.close()
