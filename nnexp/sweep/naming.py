"""Run folder names: one per configuration, from the settings a sweep varies."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import quote

from omegaconf import DictConfig, OmegaConf

MAX_DIR_NAME = 200


def _short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:length]


def data_folder_name(root: str, config: DictConfig | None) -> str:
    """How ``data.root=<root>`` appears in a folder name: the folder's own name and a short hash of what it
    holds (the data's content identity; where it cannot be read, the resolved path), so every spelling of
    one folder, and every copy of the same files, gives one name."""
    folder = Path(root).expanduser().resolve()
    identity = None
    if config is not None and "data" in config:
        from nnexp.training.spec import data_identity  # the training stage's: imported when a sweep names a run

        identity = data_identity(OmegaConf.to_object(config.data))
    return f"{folder.name or 'root'}-{identity.digest[:8] if identity else _short_hash(str(folder))}"


def run_dir_name(override_dirname: str, data_root: str | None = None, config: DictConfig | None = None) -> str:
    """A run folder name from Hydra's ``key=value,...`` overrides string, one per configuration.

    ``data.root=<path>`` (its value as typed is ``data_root``) becomes the data folder's name and a short
    hash of its content (:func:`data_folder_name`). Other unsafe characters are percent-encoded (so the
    mapping stays one-to-one and a value can never create subfolders); very long names are shortened
    with a hash of the full string.
    """
    if data_root is not None and f"data.root={data_root}" in override_dirname:
        override_dirname = override_dirname.replace(
            f"data.root={data_root}", f"data.root={data_folder_name(data_root, config)}"
        )
    name = quote(override_dirname, safe="=,.+-_[]:@") or "defaults"
    if len(name) > MAX_DIR_NAME:
        name = f"{name[: MAX_DIR_NAME - 18]}...{hashlib.sha1(name.encode()).hexdigest()[:15]}"
    return name


def _folder_of(override_dirname: str, *, _root_: DictConfig) -> str:
    typed = [o.partition("=")[2] for o in _root_.hydra.overrides.task if o.startswith("data.root=")]
    return run_dir_name(override_dirname, typed[-1] if typed else None, _root_)


def register_resolver() -> None:
    """``${nnexp_dirname:...}``, which ``conf/config.yaml`` names run folders with."""
    OmegaConf.register_new_resolver("nnexp_dirname", _folder_of, replace=True)
