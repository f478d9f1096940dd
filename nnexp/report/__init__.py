"""Report of a sweep folder: comparison tables, a tidy CSV of runs, figures, index.md and index.html.

sweep folder -> tidy frames (runs) -> statistics (stats), tables (tables), published vs reproduced
(published), figures (figures, drawn by render) -> index.md / index.html (document), put together by
build (:func:`nnexp.report.build.build_report`). The package itself imports nothing but what makes it callable: a
sweep checks its report's options (options, metrics, columns: no pandas) long before it builds the report.

Called, the package builds a report from Python: ``nnexp.report(sweep_dir, ...)`` is :func:`nnexp.api.report`.
"""

from nnexp.report import called as called  # makes the package callable
