"""Data sets: IDX reading, download with checksums, and train/validation/test splits."""

from nnexp.data.datasets import load_dataset
from nnexp.data.splits import Splits
from nnexp.data.idx import read_idx
from nnexp.errors import DataFileError, DataUnavailableError

__all__ = ["Splits", "load_dataset", "DataUnavailableError", "DataFileError", "read_idx"]
