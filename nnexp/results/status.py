"""The status of a run folder: one vocabulary for the trainer, the sweep and the report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from enum import StrEnum


class RunStatus(StrEnum):
    """What a run folder shows, in the order reports list them.

    ``completed`` and ``diverged`` are results (rerunning gives the same); ``failed`` has an
    error; ``interrupted`` stopped on a signal with a checkpoint (a rerun resumes it); the
    others are seen from outside a run: a finished run whose files are not those its summary
    records (a rerun sets them aside and trains again), a summary that cannot be read, a run
    that started and did not finish, a planned run with no folder.
    """

    completed = "completed"
    diverged = "diverged"
    failed = "failed"
    interrupted = "interrupted"
    damaged = "damaged"
    unreadable = "unreadable"
    incomplete = "incomplete"
    missing = "missing"

    @property
    def finished(self) -> bool:
        """Whether the run has its final result (a sweep does not run it again)."""
        return self in FINISHED


FINISHED = frozenset({RunStatus.completed, RunStatus.diverged})


def status_counts(statuses: Iterable[str]) -> str:
    """'11 completed, 1 diverged, 1 failed': how many runs have each status, in a fixed order."""
    counts = Counter(str(status) for status in statuses)
    return ", ".join(f"{counts[s.value]} {s.value}" for s in RunStatus if counts[s.value])
