"""Run folder names: readable, from the settings a sweep varies; one per configuration."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import quote

from hydra.core.override_parser.types import Override
from omegaconf import DictConfig, ListConfig, OmegaConf

from nnexp.resolvers import add_resolver
from nnexp.setting_kinds import is_execution_only

MAX_DIR_NAME = 200


def _short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:length]


def data_folder_name(root: str, digest: str | None) -> str:
    """How ``data.root=<root>`` appears in a folder name: the folder's own name and a short hash of what it
    holds (``digest``, the data's content identity; where it cannot be read, of the resolved path), so every
    spelling of one folder, and every copy of the same files, gives one name."""
    folder = Path(root).expanduser().resolve()
    return f"{folder.name or 'root'}-{digest[:8] if digest else _short_hash(str(folder))}"


def override_dirname(overrides: list[Override]) -> str:
    """``key=value,...`` of the task overrides that can change a result, sorted: Hydra's
    ``hydra.job.override_dirname`` with :data:`nnexp.setting_kinds.EXECUTION_ONLY` left out."""
    return ",".join(sorted(str(o.input_line) for o in overrides if not is_execution_only(o.key_or_group)))


def run_dir_name(override_dirname: str, data_root: str | None = None, data_digest: str | None = None) -> str:
    """A run folder name from a ``key=value,...`` overrides string, one per configuration.

    ``data.root=<path>`` (its value as typed is ``data_root``) becomes the data folder's name and a short
    hash of its content (:func:`data_folder_name`). Other unsafe characters are percent-encoded (so the
    mapping stays one-to-one and a value can never create subfolders, or hold a quote); very long names are
    shortened with a hash of the full string.
    """
    if data_root is not None and f"data.root={data_root}" in override_dirname:
        override_dirname = override_dirname.replace(
            f"data.root={data_root}", f"data.root={data_folder_name(data_root, data_digest)}"
        )
    name = quote(override_dirname, safe="=,.+-_[]:@") or "defaults"
    if len(name) > MAX_DIR_NAME:
        name = f"{name[: MAX_DIR_NAME - 18]}...{hashlib.sha1(name.encode()).hexdigest()[:15]}"
    return name


def sweep_name(task_overrides: list[str], hydra_overrides: list[str] = ()) -> str:
    """A sweep folder's name from its command: the same command, the same folder. Its task overrides (``key=a,b``
    lists kept as typed; the settings that never change a result left out) and the grid it adds by
    ``hydra.sweeper.params.<key>=...``."""
    kept = [o for o in task_overrides if not is_execution_only(o.partition("=")[0].lstrip("+~"))]
    kept += [o for o in hydra_overrides if o.startswith("hydra.sweeper.params.")]
    return run_dir_name(",".join(sorted(kept)))


def _sweep_folder(fresh: bool, now: str, task_overrides: ListConfig, hydra_overrides: ListConfig) -> str:
    name = sweep_name(list(task_overrides), list(hydra_overrides))
    return f"{name}@{now}" if fresh else name


def _folder_of(override_dirname: str, *, _root_: DictConfig) -> str:
    """The folder of a run no plan placed (a searching sweeper's): its readable name."""
    typed = [o.partition("=")[2] for o in _root_.hydra.overrides.task if o.startswith("data.root=")]
    digest = None
    if typed and "data" in _root_:
        from nnexp.training.spec import data_identity  # the training stage's: imported when a sweep names a run

        identity = data_identity(OmegaConf.to_object(_root_.data))
        digest = identity.digest if identity else None
    return run_dir_name(override_dirname, typed[-1] if typed else None, digest)


def register_resolver() -> None:
    """``${nnexp_dirname:...}`` and ``${nnexp_sweep_name:...}``, which ``conf/config.yaml`` names run and sweep
    folders with. The sweep's name is cached, so a job's config (whose task overrides are the job's own) keeps the
    sweep's folder, as Hydra keeps ``${now:...}``; nnexp's sweeper also passes it to each job."""
    add_resolver("nnexp_dirname", _folder_of)
    add_resolver("nnexp_sweep_name", _sweep_folder, use_cache=True)
