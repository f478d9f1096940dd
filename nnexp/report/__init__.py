"""Report of a sweep folder: comparison tables, a tidy CSV of runs, figures, index.md and index.html.

sweep folder -> tidy frames (runs) -> statistics (stats), tables (tables), published vs reproduced
(published), figures (figures, drawn by render) -> index.md / index.html (document), put together by build.
"""

from nnexp.errors import ReportError
from nnexp.report.build import build_comparison, build_report, report_folder

__all__ = ["ReportError", "build_comparison", "build_report", "report_folder"]
