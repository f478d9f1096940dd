"""Download of the official IDX files into a local cache, verified by md5 (pooch)."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

import platformdirs

from nnexp.console import is_quiet
from nnexp.data.settings import DataConfig
from nnexp.errors import DataUnavailableError

log = logging.getLogger(__name__)


def cache_folder(cfg: DataConfig) -> Path:
    """Where a data set's downloads and arrays are cached: ``data.cache_dir``, else the per-user
    cache folder (``<platformdirs' user cache folder>/nnexp/<data set>``, as ``pooch.os_cache('nnexp')``)."""
    return Path(cfg.cache_dir).expanduser() if cfg.cache_dir else Path(platformdirs.user_cache_dir("nnexp")) / cfg.name


def short_reason(exc: Exception) -> str:
    """Why a download failed, without the URL and the retries: 'Connection refused' (what the system said, from
    under the wrappers of requests), '404 Client Error: File not found', pooch's md5 mismatch."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    system = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    return system.group(1).strip() if system else text.split(" for url:")[0]


def fetch(files_md5: dict[str, str], urls: list[str], cache_dir: Path) -> dict[str, Path]:
    """Return the local path of every file, downloading the missing ones (one line says which; in a terminal,
    a progress bar each).

    Each file is tried at every mirror in ``urls`` in turn. A file already in
    ``cache_dir`` with the right md5 is not downloaded again; a download with a
    wrong md5 is discarded (pooch writes to a temporary file first), so a partial
    or corrupt download never passes as complete. A file no mirror gives is one
    error naming each mirror and why.
    """
    if not urls:
        raise DataUnavailableError(f"no download URL configured for {sorted(files_md5)}")
    import pooch  # ~0.2 s with requests: only here, where files are fetched

    made = _missing_folders(cache_dir)
    missing = [name for name in files_md5 if not (cache_dir / name).is_file()]
    if missing:
        log.info("downloading %s into %s", ", ".join(missing), cache_dir)
    pooch.get_logger().setLevel(logging.WARNING)  # not a line per file and mirror: the line above says it
    bar = sys.stderr.isatty() and not is_quiet()  # a progress bar per file in a terminal (tqdm), none in logs or -q
    paths = {}
    for name, md5 in files_md5.items():
        errors = []
        for base in urls:
            url = base.rstrip("/") + "/" + name
            try:
                paths[name] = Path(
                    pooch.retrieve(url, known_hash=f"md5:{md5}", fname=name, path=cache_dir, progressbar=bar)
                )
                break
            except Exception as exc:  # network errors come in many types (requests, OSError, ...)
                errors.append(f"{base.rstrip('/')}: {short_reason(exc)}")
        else:
            _remove_if_empty(made)
            raise DataUnavailableError(f"could not download {name} ({'; '.join(errors)})")
    return paths


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
