"""The configs of the default launcher (``hydra/launcher=ordered_joblib``) and sweeper (``hydra/sweeper=nnexp_grid``),
apart from their code.

Composing a config needs them (``conf/hydra/launcher/nnexp_joblib.yaml`` extends them), running a
sweep needs the launcher itself (:mod:`.ordered_joblib`, which imports joblib): ``--help`` and the
Compose API need only this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Optional

from hydra.core.config_store import ConfigStore
from hydra_plugins.hydra_joblib_launcher.config import JobLibLauncherConf


class LaunchOrder(Enum):
    longest_first = "longest_first"  # by the plan's estimated work; the grid's order without a plan
    given = "given"  # the grid's order, as Hydra's launchers do


@dataclass
class OrderedJoblibLauncherConf(JobLibLauncherConf):
    _target_: str = "hydra_plugins.nnexp_launcher.ordered_joblib.OrderedJoblibLauncher"
    order: LaunchOrder = LaunchOrder.longest_first


@dataclass
class GridSweeperConf:
    """``hydra/sweeper=nnexp_grid``: :class:`hydra_plugins.nnexp_launcher.sweeper.GridSweeper`."""

    _target_: str = "hydra_plugins.nnexp_launcher.sweeper.GridSweeper"
    max_batch_size: Optional[int] = None  # noqa: UP045 (Hydra's structured configs take Optional)
    params: Optional[dict[str, str]] = None  # noqa: UP045


def store_configs() -> None:
    """Store the launcher's and the sweeper's configs as ``hydra/launcher=ordered_joblib`` and
    ``hydra/sweeper=nnexp_grid`` (Hydra's config store)."""
    store = ConfigStore.instance()
    store.store(group="hydra/launcher", name="ordered_joblib", node=OrderedJoblibLauncherConf, provider="nnexp")
    store.store(group="hydra/sweeper", name="nnexp_grid", node=GridSweeperConf, provider="nnexp")
