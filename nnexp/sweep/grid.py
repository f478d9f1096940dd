"""The jobs of a grid sweep: every combination of the values its overrides list, in the order Hydra's basic
sweeper gives them (the last override varies fastest)."""

from __future__ import annotations

import itertools

from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

from nnexp.errors import ConfigError

GRID_SWEEPER = "hydra_plugins.nnexp_launcher.sweeper.GridSweeper"


def runs_a_grid(sweeper_target: str) -> bool:
    """Whether the sweeper of this ``_target_`` runs a whole grid (nnexp's, planned; Hydra's basic one, unplanned),
    not the trials of a search."""
    return sweeper_target.rpartition(".")[2] in ("GridSweeper", "BasicSweeper")


def is_grid_sweep(config: DictConfig) -> bool:
    """Whether the sweep's jobs are a grid nnexp plans (not a searching sweeper's proposals)."""
    return config.hydra.sweeper.get("_target_") == GRID_SWEEPER


def sweep_arguments(config: DictConfig) -> list[str]:
    """The overrides a grid sweeps: ``hydra.sweeper.params`` first, then the command line's."""
    params = [f"{key}={value}" for key, value in (config.hydra.sweeper.get("params") or {}).items()]
    return params + list(config.hydra.overrides.task)


def grid_jobs(arguments: list[str]) -> list[list[str]]:
    """The override list of every job of the grid ``arguments`` describes (``key=a,b``, ``choice(...)``,
    ``range(...)``, ``glob(...)`` of config groups; a key given twice: its last values, in its first place)."""
    loader = GlobalHydra.instance().config_loader() if GlobalHydra.instance().is_initialized() else None
    choices: dict[str, list[str]] = {}
    for override in OverridesParser.create(config_loader=loader).parse_overrides(arguments):
        key = override.get_key_element()
        if not override.is_sweep_override():
            choices[key] = [f"{key}={override.get_value_element_as_str()}"]
        elif override.is_discrete_sweep():
            choices[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            raise ConfigError(
                f"{override.input_line} sweeps an interval; allowed in a grid: a list (a,b,c), choice(...),"
                " range(...) or glob(...) (an interval needs a searching sweeper: +hparams_search=optuna)"
            )
    return [list(job) for job in itertools.product(*choices.values())]
