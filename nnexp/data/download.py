"""Download of the official IDX files into a local cache, verified by md5 (pooch)."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

import pooch

from nnexp.data.settings import DataConfig
from nnexp.errors import DataUnavailableError

log = logging.getLogger(__name__)


def cache_folder(cfg: DataConfig) -> Path:
    """Where a data set's downloads and arrays are cached: ``data.cache_dir``, else the per-user
    cache folder (``pooch.os_cache('nnexp')/<data set>``)."""
    return Path(cfg.cache_dir).expanduser() if cfg.cache_dir else Path(pooch.os_cache("nnexp")) / cfg.name


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
    cache_dir.mkdir(parents=True, exist_ok=True)
    missing = [name for name in files_md5 if not (cache_dir / name).is_file()]
    if missing:
        log.info("downloading %s into %s", ", ".join(missing), cache_dir)
    pooch.get_logger().setLevel(logging.WARNING)  # not a line per file and mirror: the line above says it
    bar = sys.stderr.isatty()  # a progress bar per file in a terminal (tqdm), none in logs
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
            raise DataUnavailableError(f"could not download {name} ({'; '.join(errors)})")
    return paths
