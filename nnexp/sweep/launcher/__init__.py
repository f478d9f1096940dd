"""The default launcher: Hydra's joblib launcher starting the runs of a sweep longest first.

Installed as ``hydra_plugins.nnexp_launcher`` (``pyproject.toml`` maps this folder there):
Hydra instantiates launchers only from the ``hydra_plugins`` namespace.
"""

from hydra_plugins.nnexp_launcher.ordered_joblib import (
    JOBLIB_LAUNCHERS,
    LaunchOrder,
    OrderedJoblibLauncher,
    OrderedJoblibLauncherConf,
    launch_order,
    parallel_settings,
    register,
    start_workers,
)

__all__ = [
    "JOBLIB_LAUNCHERS",
    "LaunchOrder",
    "OrderedJoblibLauncher",
    "OrderedJoblibLauncherConf",
    "launch_order",
    "parallel_settings",
    "register",
    "start_workers",
]
