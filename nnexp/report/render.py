"""Drawing a report's figures: queued while the report is assembled, then drawn all at once.

Each figure is a job: a plot function of :mod:`nnexp.report.figures`, by name, its data, and
the file stem it is saved under. Jobs run in this process, or on joblib's worker processes:
at the end of a sweep those are the sweep's own, idle and warm (see ``nnexp/launcher``).
Matplotlib is imported only where figures are drawn.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joblib import Parallel, delayed

from nnexp.report.document import Block


@dataclass(frozen=True)
class FigureJob:
    """One figure to draw: what a worker process needs, and nothing of matplotlib."""

    plot: str  # a function of nnexp.report.figures returning a matplotlib figure
    args: tuple
    stem: Path  # saved as <stem>.png and <stem>.svg


def prepare_drawing() -> None:
    """Import the plotting code (matplotlib: ~0.8 s) in a thread of this process, e.g. a worker that will idle
    until the report: its job returns at once, and a figure drawn meanwhile waits for the import to end."""

    def load() -> None:
        from nnexp.report import figures  # noqa: F401

    threading.Thread(target=load, name="nnexp-prepare-drawing", daemon=True).start()


# Every figure is drawn with its texts as they are: none is mathtext (a log axis's ticks are plain numbers)
TEXT_AS_IS = {"text.parse_math": False}


def draw(job: FigureJob) -> None:
    """Draw one figure and save it as PNG and SVG; its texts (names, settings) are shown as they are, never read
    as mathtext (a ``$`` in a folder name would be)."""
    import matplotlib

    from nnexp.report import figures

    with matplotlib.rc_context(TEXT_AS_IS):
        figures.save_figure(getattr(figures, job.plot)(*job.args), job.stem)


class Figures:
    """The figures of one report, in the order the report shows them."""

    def __init__(self) -> None:
        self.jobs: list[FigureJob] = []

    def add(self, stem: Path, caption: str, plot: str, *args: Any) -> Block:
        """Queue the figure ``plot(*args)`` as ``stem``.png/.svg; its block for the report."""
        self.jobs.append(FigureJob(plot, args, stem))
        return Block("figure", caption, links={"png": f"{stem.name}.png", "svg": f"{stem.name}.svg"})

    def draw(self, parallel: dict[str, Any] | None = None) -> None:
        """Draw every queued figure: here (``parallel`` None), or with ``joblib.Parallel(**parallel)``.

        Learning curves (a panel per configuration) take longest and are handed out first.
        """
        jobs = sorted(self.jobs, key=lambda job: job.plot != "plot_curves")
        if parallel is None or len(jobs) < 2:
            for job in jobs:
                draw(job)
        else:
            Parallel(**parallel)(delayed(draw)(job) for job in jobs)
        self.jobs = []
