"""Download of the official IDX files into a local cache, verified by md5, with deadlines.

A file is streamed from a mirror into a partial file beside its place (``.<name>.<host>-<pid>.part``), with a
timeout on every read (``READ_TIMEOUT``), one on the whole file (``DEADLINE``) and a bound on its size
(``MAX_FILE_BYTES``), and renamed into place only when it is complete and its md5 is the expected one. A partial
file left by a process of this host that was killed is removed at the next start.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError, URLError

import platformdirs

from nnexp.console import is_quiet
from nnexp.data.cache import file_md5
from nnexp.data.settings import DataConfig
from nnexp.errors import ConfigError, DataUnavailableError
from nnexp.places import make_writable, remove_leftovers, temporary_path

log = logging.getLogger(__name__)

READ_TIMEOUT = 30.0  # seconds a mirror may send nothing before it is given up
DEADLINE = 600.0  # seconds one file may take from one mirror (MNIST's largest, 9.9 MB: at least 17 kB/s)
MAX_FILE_BYTES = 256 << 20  # bytes a file may have (Fashion-MNIST's largest: 26 MB): more is not the file
PARTIAL_SUFFIX = "part"
CHUNK = 1 << 16


class MirrorFailed(Exception):
    """A mirror did not give a file; the message says why, in a few words."""


def cache_folder(cfg: DataConfig) -> Path:
    """Where a data set's downloads and arrays are cached: ``data.cache_dir``, else the per-user
    cache folder (``<platformdirs' user cache folder>/nnexp/<data set>``)."""
    return Path(cfg.cache_dir).expanduser() if cfg.cache_dir else Path(platformdirs.user_cache_dir("nnexp")) / cfg.name


def short_reason(exc: Exception) -> str:
    """Why a download failed, without the URL: 'Connection refused' (what the system said, from under urllib's
    wrapper), '404 File not found', or the message of :class:`MirrorFailed`."""
    if isinstance(exc, HTTPError):
        return f"{exc.code} {exc.reason}"
    if isinstance(exc, URLError) and isinstance(exc.reason, Exception):
        exc = exc.reason
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


@dataclass(frozen=True)
class Limits:
    """What one file may take from one mirror: seconds without data, seconds in all, bytes."""

    read_timeout: float = READ_TIMEOUT
    deadline: float = DEADLINE
    max_bytes: int = MAX_FILE_BYTES


def _stream(url: str, target: Path, limits: Limits, bar: bool) -> None:
    """Write what ``url`` gives into ``target``; MirrorFailed when the mirror sends nothing for
    ``limits.read_timeout`` seconds, has not sent everything after ``limits.deadline`` seconds, announces or sends
    more than ``limits.max_bytes``, or sends less than it announced."""
    import urllib.request  # with http.client and ssl, and tqdm: only here, where files are fetched

    from tqdm import tqdm

    ends = time.monotonic() + limits.deadline
    too_large = f"larger than {limits.max_bytes} bytes: not the file"
    try:
        with urllib.request.urlopen(url, timeout=limits.read_timeout) as response:
            announced, received = response.length, 0
            if announced is not None and announced > limits.max_bytes:
                raise MirrorFailed(f"{too_large} ({announced} bytes announced)")
            with (
                open(target, "wb") as out,
                tqdm(total=announced, unit="B", unit_scale=True, desc=target.name, disable=not bar) as progress,
            ):
                while chunk := response.read1(CHUNK):  # what one read gives: a slow mirror meets the deadline
                    received += len(chunk)
                    if received > limits.max_bytes:
                        raise MirrorFailed(f"{too_large} (more than {limits.max_bytes} bytes sent)")
                    out.write(chunk)
                    progress.update(len(chunk))
                    if time.monotonic() > ends:
                        raise MirrorFailed(
                            f"not complete after {limits.deadline:g} s (deadline; {received} bytes received)"
                        )
    except TimeoutError:
        raise MirrorFailed(f"no data for {limits.read_timeout:g} s (read timeout)") from None
    except URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise MirrorFailed(f"no data for {limits.read_timeout:g} s (read timeout)") from None
        raise
    if announced is not None and received < announced:
        raise MirrorFailed(f"incomplete ({received} of {announced} bytes)")


def _download(url: str, target: Path, md5: str, limits: Limits, bar: bool) -> None:
    """``url`` into ``target``, through a partial file renamed into place once its md5 is ``md5``."""
    partial = temporary_path(target, PARTIAL_SUFFIX)
    try:
        _stream(url, partial, limits, bar)
        found = file_md5(partial)
        if found != md5:
            raise MirrorFailed(f"md5 mismatch: the file's hash is {found}, expected {md5}")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def fetch(
    files_md5: dict[str, str],
    urls: list[str],
    cache_dir: Path,
    deadline: float = DEADLINE,
    read_timeout: float = READ_TIMEOUT,
    max_bytes: int = MAX_FILE_BYTES,
) -> dict[str, Path]:
    """Return the local path of every file, downloading the missing ones (one line says which; in a terminal,
    a progress bar each).

    Each file is tried at every mirror in ``urls`` in turn. A file already in ``cache_dir`` with the right md5
    is not downloaded again. A download that stalls (``read_timeout``), outlasts ``deadline``, is larger than
    ``max_bytes`` (announced or sent), ends early or has the wrong md5 leaves nothing behind. A file no mirror
    gives is one error naming each mirror and why; a cache folder that cannot be written is one error naming it.
    """
    import http.client

    if not urls:
        raise DataUnavailableError(f"no download URL configured for {sorted(files_md5)}")
    made = _missing_folders(cache_dir)
    remove_leftovers(cache_dir)
    missing = [name for name, md5 in files_md5.items() if not _verified(cache_dir / name, md5)]
    if missing:
        _check_writable(cache_dir, made)
        log.info("downloading %s into %s", ", ".join(missing), cache_dir)
    limits = Limits(read_timeout, deadline, max_bytes)
    bar = sys.stderr.isatty() and not is_quiet()  # a progress bar per file in a terminal (tqdm), none in logs or -q
    for name in missing:
        errors = []
        for base in urls:
            url = base.rstrip("/") + "/" + name
            try:
                _download(url, cache_dir / name, files_md5[name], limits, bar)
                break
            except (OSError, http.client.HTTPException, ValueError, MirrorFailed) as exc:  # network, HTTP, URL
                errors.append(f"{base.rstrip('/')}: {short_reason(exc)}")
        else:
            _remove_if_empty(made)
            raise DataUnavailableError(f"could not download {name} ({'; '.join(errors)})")
    return {name: cache_dir / name for name in files_md5}


def _verified(path: Path, md5: str) -> bool:
    try:
        return file_md5(path) == md5
    except OSError:  # absent, or unreadable: downloaded again
        return False


def _check_writable(folder: Path, made: list[Path]) -> None:
    """``folder`` exists and can be written; else one line naming it (and the folders made for it removed)."""
    try:
        make_writable(folder)
    except OSError as exc:
        _remove_if_empty(made)
        raise ConfigError(
            f"the download folder {folder} cannot be written ({exc.strerror}); allowed: a folder you can write to"
            " (data.cache_dir=<folder>, or NNEXP_CACHE_DIR)"
        ) from None


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first (what a download would create)."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_if_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first) where they are empty: a failed download leaves no folder behind."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (another process's files), or gone: leave it
            return
