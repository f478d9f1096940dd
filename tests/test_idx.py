"""The IDX parser on generated files, including damaged ones."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from nnexp.data import DataFileError, read_idx
from nnexp.data.idx import idx_bytes, write_idx


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["data.idx", "data.idx.gz"])
def test_round_trip_of_every_type(tmp_path, dtype, name) -> None:
    array = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    result = read_idx(write_idx(tmp_path / name, array))
    assert result.shape == (2, 3, 4)
    assert result.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(result, array)


def test_labels_file_is_one_dimensional(tmp_path) -> None:
    labels = np.array([7, 2, 1, 0, 4], dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "labels.gz", labels)), labels)


def test_truncated_data_names_the_file_and_the_shortfall(tmp_path) -> None:
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(idx_bytes(np.zeros((10, 28, 28), np.uint8))[:-100])
    with pytest.raises(
        DataFileError, match=r"images-idx3-ubyte: IDX data truncated: shape \(10, 28, 28\) needs 7840 bytes, found 7740"
    ):
        read_idx(path)


def test_trailing_bytes_are_rejected(tmp_path) -> None:
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.zeros(5, np.uint8)) + b"\x00\x00")
    with pytest.raises(DataFileError, match=r"has trailing bytes"):
        read_idx(path)


@pytest.mark.parametrize("header", [b"\x00\x01\x08\x01", b"PK\x03\x04", b"\x00\x00\x07\x01", b""])
def test_wrong_magic_is_not_an_idx_file(tmp_path, header) -> None:
    path = tmp_path / "bad.idx"
    path.write_bytes(header + b"\x00" * 12)
    with pytest.raises(DataFileError, match=r"bad.idx: not an IDX file"):
        read_idx(path)


def test_truncated_header(tmp_path) -> None:
    path = tmp_path / "short"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x0a")
    with pytest.raises(DataFileError, match=r"short: truncated IDX header \(8 of 16 bytes\)"):
        read_idx(path)


def test_truncated_gzip_says_download_again(tmp_path) -> None:
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.ones((50, 28, 28), np.uint8)))[:-40])
    with pytest.raises(DataFileError, match=r"train-images-idx3-ubyte.gz: truncated gzip file.*download it again"):
        read_idx(path)


def test_corrupt_gzip(tmp_path) -> None:
    path = tmp_path / "x.gz"
    data = bytearray(gzip.compress(idx_bytes(np.ones((20, 28, 28), np.uint8))))
    data[20:40] = b"\xff" * 20
    path.write_bytes(bytes(data))
    with pytest.raises(DataFileError, match=r"x.gz: corrupt gzip file"):
        read_idx(path)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(DataFileError, match=r"nothere.gz: file not found"):
        read_idx(tmp_path / "nothere.gz")
