"""Run folder names: one per configuration, from the settings a sweep varies."""

from __future__ import annotations

import hashlib
from urllib.parse import quote

from omegaconf import OmegaConf

MAX_DIR_NAME = 200


def run_dir_name(override_dirname: str) -> str:
    """A run folder name from Hydra's ``key=value,...`` overrides string, one per configuration.

    Path separators and other unsafe characters are percent-encoded (so the mapping
    stays one-to-one and a value can never create subfolders); very long names are
    shortened with a hash of the full string.
    """
    name = quote(override_dirname, safe="=,.+-_[]:@") or "defaults"
    if len(name) > MAX_DIR_NAME:
        name = f"{name[: MAX_DIR_NAME - 18]}...{hashlib.sha1(name.encode()).hexdigest()[:15]}"
    return name


def register_resolver() -> None:
    """``${nnexp_dirname:...}``, which ``conf/config.yaml`` names run folders with."""
    OmegaConf.register_new_resolver("nnexp_dirname", run_dir_name, replace=True)
