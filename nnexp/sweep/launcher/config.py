"""The configs of the default launcher (``hydra/launcher=ordered_joblib``), apart from its code.

Composing a config needs them (``conf/hydra/launcher/nnexp_joblib.yaml`` extends them), running a
sweep needs the launcher itself (:mod:`.ordered_joblib`, which imports joblib): ``--help`` and the
Compose API need only this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from hydra.core.config_store import ConfigStore
from hydra_plugins.hydra_joblib_launcher.config import JobLibLauncherConf


class LaunchOrder(Enum):
    longest_first = "longest_first"  # by the plan's estimated work; the grid's order without a plan
    given = "given"  # the grid's order, as Hydra's launchers do


@dataclass
class OrderedJoblibLauncherConf(JobLibLauncherConf):
    _target_: str = "hydra_plugins.nnexp_launcher.ordered_joblib.OrderedJoblibLauncher"
    order: LaunchOrder = LaunchOrder.longest_first


def store_configs() -> None:
    """Store the launcher's config as ``hydra/launcher=ordered_joblib`` (Hydra's config store)."""
    ConfigStore.instance().store(
        group="hydra/launcher", name="ordered_joblib", node=OrderedJoblibLauncherConf, provider="nnexp"
    )
