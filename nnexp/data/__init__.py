"""Data sets: readers of their files (IDX, with download and checksums), splits, preprocessing, the array cache."""

from nnexp.data.dataset import Dataset, RawImages
from nnexp.data.idx import read_idx
from nnexp.data.loading import load_dataset, open_dataset
from nnexp.data.pack_data import MemberRows, PackData
from nnexp.data.settings import DataConfig, Scaling
from nnexp.data.splits import Preprocess, Splits, split_sizes
from nnexp.errors import DataFileError, DataUnavailableError

__all__ = [
    "DataConfig",
    "DataFileError",
    "DataUnavailableError",
    "Dataset",
    "MemberRows",
    "PackData",
    "Preprocess",
    "RawImages",
    "Scaling",
    "Splits",
    "load_dataset",
    "open_dataset",
    "read_idx",
    "split_sizes",
]
