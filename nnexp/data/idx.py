"""Reader of the IDX format that MNIST and Fashion-MNIST are published in.

Format (http://yann.lecun.com/exdb/mnist/): two zero bytes, a type code, the
number of dimensions, then one big-endian uint32 per dimension, then the data.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from nnexp.errors import DataFileError

IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"
BLOCK = 1 << 22  # bytes read at a time
# The four files of an MNIST-format data set, by role, as the official sites name them.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def read_bytes(path: Path) -> bytearray:
    """The content of an IDX file (header and data), decompressed if it is gzip-compressed.

    Read in blocks up to the length its header gives, and refused past it: memory stays within the data's
    real size, whatever the file decompresses to. A damaged file, or one shorter or longer than its header
    says: DataFileError.
    """
    try:
        with open(path, "rb") as handle:
            opener = gzip.open if handle.read(2) == GZIP_MAGIC else open
    except FileNotFoundError:
        raise DataFileError(f"{path}: file not found") from None
    try:
        with opener(path, "rb") as handle:
            content = bytearray(_read_header(handle))
            dtype, shape, header_len = _header(content, path)
            expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow for any header
            while len(content) < header_len + expected and (
                block := handle.read(min(BLOCK, header_len + expected - len(content)))
            ):
                content += block
            longer = bool(handle.read(1))
    except EOFError:
        raise DataFileError(
            f"{path}: truncated gzip file (incomplete download?); delete it and download it again"
        ) from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise DataFileError(f"{path}: corrupt gzip file ({exc}); delete it and download it again") from None
    found = len(content) - header_len
    if found < expected:
        raise DataFileError(
            f"{path}: IDX data truncated: shape {shape} needs {expected} bytes, found {found}; download the file again"
        )
    if longer:
        raise DataFileError(
            f"{path}: IDX data has trailing bytes, longer than its header says: shape {shape} needs {expected} bytes;"
            " download the file again"
        )
    return content


def _read_header(handle: BinaryIO) -> bytes:
    """The header bytes of an open IDX file (fewer where the file is shorter): magic, then one uint32 per dimension."""
    head = handle.read(4)
    return head + handle.read(4 * head[3]) if len(head) == 4 else head


def _header(raw: bytes, path: Path) -> tuple[np.dtype, tuple[int, ...], int]:
    """Type, shape and header length of IDX bytes (the whole file or at least its header)."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise DataFileError(
            f"{path}: not an IDX file (header {raw[:4].hex() or 'empty'}, expected 0000 + type code"
            f" {'/'.join(f'{c:02x}' for c in IDX_DTYPES)} + ndim)"
        )
    dtype, ndim = IDX_DTYPES[raw[2]], raw[3]
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DataFileError(f"{path}: truncated IDX header ({len(raw)} of {header_len} bytes)")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    return dtype, shape, header_len


def read_idx_shape(path: str | Path) -> tuple[int, ...]:
    """The shape recorded in an IDX file's header, without reading its data."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            opener = gzip.open if handle.read(2) == GZIP_MAGIC else open
    except FileNotFoundError:
        raise DataFileError(f"{path}: file not found") from None
    try:
        with opener(path, "rb") as handle:
            raw = _read_header(handle)
    except (EOFError, OSError, zlib.error) as exc:
        raise DataFileError(f"{path}: unreadable ({exc}); delete it and download it again") from None
    return _header(raw, path)[1]


IDX_CODES = {dtype: code for code, dtype in IDX_DTYPES.items()}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array`` (multi-byte types big-endian, as the format requires)."""
    dtype = array.dtype if array.dtype.itemsize == 1 else array.dtype.newbyteorder(">")
    header = bytes([0, 0, IDX_CODES[dtype], array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(dtype).tobytes()


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file, gzip-compressed when the name ends in .gz."""
    path = Path(path)
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data, compresslevel=1) if path.suffix == ".gz" else data)
    return path


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into a NumPy array of its shape."""
    path = Path(path)
    raw = read_bytes(path)
    dtype, shape, header_len = _header(raw, path)
    try:
        data = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(shape)
    except ValueError:  # e.g. (2**31, 2**32, 0): no bytes, but dimensions no array can have
        raise DataFileError(f"{path}: IDX header gives the impossible shape {shape}; download the file again") from None
    return data.astype(dtype.newbyteorder("="), copy=False)
