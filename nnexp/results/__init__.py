"""What a run leaves in its folder: metrics.csv per epoch, summary.json, and the vocabulary of run statuses."""

from nnexp.results.files import ERROR_FILE, METRICS_FILE, SUMMARY_FILE, MetricsCSV, load_summary, read_summary
from nnexp.results.status import FINISHED, RunStatus, status_counts
from nnexp.results.summary import EPOCH_COLUMNS, OUTCOME_COLUMNS, RunSummary

__all__ = [
    "EPOCH_COLUMNS",
    "ERROR_FILE",
    "FINISHED",
    "METRICS_FILE",
    "OUTCOME_COLUMNS",
    "SUMMARY_FILE",
    "MetricsCSV",
    "RunStatus",
    "RunSummary",
    "load_summary",
    "read_summary",
    "status_counts",
]
