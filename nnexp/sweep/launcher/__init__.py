"""The default launcher: Hydra's joblib launcher starting the runs of a sweep longest first.

Installed as ``hydra_plugins.nnexp_launcher`` (``pyproject.toml`` maps this folder there):
Hydra instantiates launchers only from the ``hydra_plugins`` namespace. Its configs (:mod:`.config`)
load without its code (:mod:`.ordered_joblib`, which imports joblib), so that composing a config
(``--help``, the Compose API) does not import the launcher: import the code from its module.
"""

from hydra_plugins.nnexp_launcher.config import LaunchOrder, OrderedJoblibLauncherConf, store_configs

__all__ = ["LaunchOrder", "OrderedJoblibLauncherConf", "store_configs"]
