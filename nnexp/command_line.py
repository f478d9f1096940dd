"""The command line's overrides checked before Hydra runs: a bad value or an unknown key gets one line.

Hydra reports a value it cannot merge (``lr=fast``) or an unknown key (``hiden=64``) in several
lines and exits 1, while a sweep's planning reports the same value in a list (``lr=fast,0.1``)
in one line with exit status 2. :func:`check_overrides` composes the configuration the command
names (each sweep at its first value; planning checks the others) and raises :class:`ConfigError`
with the planning's line, so both get the same line and status.
"""

from __future__ import annotations

import difflib
import textwrap
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException
from hydra_plugins.nnexp_launcher.config import store_configs as store_launcher_configs
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError

from nnexp.config import store_schema
from nnexp.domains import Allowed
from nnexp.errors import ConfigError
from nnexp.model import ACTIVATIONS, INIT_SCHEMES
from nnexp.optim import OPTIMIZERS, SCHEDULES
from nnexp.resolvers import add_resolver, version_at_least
from nnexp.resources import CONFIG_DIR
from nnexp.sweep.naming import register_resolver

CONFIG_NAME = "config"
MULTIRUN_FLAGS = ("-m", "--multirun")

# nnexp's grid sweeper (nnexp.sweep.launcher.sweeper): chosen on the command line, where a sweep chooses none, so
# that a config that chooses a sweeper of its own (+hparams_search=optuna) can (the primary config's choice
# would win over it)
GRID_SWEEPER_CHOICE = "hydra/sweeper=nnexp_grid"


def with_grid_sweeper(args: list[str]) -> list[str]:
    """``args``, and nnexp's grid sweeper if they start a sweep that chooses no sweeper (``hydra/sweeper=...``,
    ``+hparams_search=...``)."""
    chooses = any(arg.lstrip("+~").startswith(("hydra/sweeper=", "hparams_search=")) for arg in args)
    return [*args, GRID_SWEEPER_CHOICE] if any(arg in MULTIRUN_FLAGS for arg in args) and not chooses else args


HYDRA_1_4 = version_at_least(hydra.__version__, 1, 4)
# Hydra's arguments to initialize_config_dir (COMPOSE_OPTIONS) and hydra.main (MAIN_OPTIONS) on this Hydra: 1.3
# takes its current defaults with version_base=None; 1.4 deprecates version_base, and hydra.main names the code
# its logging config may call (nnexp's console filters, the logging module's handlers)
COMPOSE_OPTIONS: dict = {} if HYDRA_1_4 else {"version_base": None}
MAIN_OPTIONS: dict = {"execution_whitelist": ("nnexp.*", "logging.*")} if HYDRA_1_4 else COMPOSE_OPTIONS


HELP_INDENT, HELP_KEY_WIDTH = 2, 32  # a help page entry: "  KEY=DEFAULT" padded, then its text, up to 100 columns


def help_entry(key: str, default: object, text: str) -> str:
    """One entry of the help page: ``key=default`` and its description, continued under the description."""
    head, margin = f"{key}={default}", " " * HELP_INDENT
    lines = textwrap.wrap(text, 100 - HELP_INDENT - HELP_KEY_WIDTH, break_on_hyphens=False)
    if len(head) >= HELP_KEY_WIDTH:
        lines.insert(0, "")
    return "\n".join(
        f"{margin}{head if i == 0 else '':{HELP_KEY_WIDTH}}{line}".rstrip() for i, line in enumerate(lines)
    )


def _listed(names: list[str]) -> str:
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def registry_help(part: str) -> str:
    """What the help page and the search space say of a registry: ``${nnexp_help:activation}`` (the help entry),
    ``...:activation_choice`` (Optuna's ``choice(...)`` of every activation), ``...:init``, ``...:optimizer``,
    ``...:lr_schedule`` and ``...:lr``."""
    if part == "activation":
        return help_entry("activation", "sigmoid", f"{' | '.join(ACTIVATIONS)}: hidden layers")
    if part == "activation_choice":
        return f"choice({', '.join(ACTIVATIONS)})"
    if part == "init":
        formulas = ", ".join(f"{name}: {scheme.formula}" for name, scheme in INIT_SCHEMES.items())
        return help_entry("init", "xavier", f"{' | '.join(INIT_SCHEMES)}: initial weights; {formulas}")
    if part == "lr":
        rates: dict[float, list[str]] = {}
        for name, optimizer in OPTIMIZERS.items():
            if optimizer.LR is not None:
                rates.setdefault(optimizer.LR, []).append(name)
        own = [f"{', '.join(names)}{' set' if i == 0 else ''} {lr:g}" for i, (lr, names) in enumerate(rates.items())]
        return help_entry(
            "lr", 0.1, f"> 0: learning rate (optimizer={'; '.join(own)}; lr=... on the command line wins)"
        )
    if part == "lr_schedule":
        formulas = "; ".join(f"{name}: {schedule.formula}" for name, schedule in SCHEDULES.items())
        head = help_entry(
            "lr_schedule", "constant", f"{' | '.join(SCHEDULES)}: the rate of epoch e = 0, 1, ...: {formulas}"
        )
        kinds = {name: (schedule.settings, schedule.allowed) for name, schedule in SCHEDULES.items()}
        return "\n".join([head, *_settings_entries("lr_schedule", kinds)])
    head = help_entry("optimizer", "sgd", f"{' | '.join(OPTIMIZERS)} (torch.optim's rules)")
    kinds = {name: (optimizer.SETTINGS, optimizer.ALLOWED) for name, optimizer in OPTIMIZERS.items()}
    return "\n".join([head, *_settings_entries("optimizer", kinds)])


def _settings_entries(group: str, kinds: dict[str, tuple[dict[str, Any], dict[str, Allowed]]]) -> list[str]:
    """The help entries ``group.<setting>=null`` of the settings of a registry's ``kinds`` (by name: each kind's
    settings with their defaults, and their allowed ranges): what is allowed, which kinds take it, and what null
    means for each (its default; a range's own note for None)."""
    owners: dict[str, list[str]] = {}
    for name, (settings, _) in kinds.items():
        for key in settings:
            owners.setdefault(key, []).append(name)
    entries = []
    for key, names in owners.items():
        allowed = kinds[names[0]][1][key][1]
        allowed = allowed.removeprefix("null (").partition(") or ")[2] or allowed  # null's meaning: below
        for article in ("a finite number ", "a number ", "an "):
            allowed = allowed.removeprefix(article)
        defaults: dict[Any, list[str]] = {}
        for name in names:
            defaults.setdefault(kinds[name][0][key], []).append(name)
        null = ", ".join(
            _default_words(value, kinds[users[0]][1][key]) + (f" ({', '.join(users)})" if len(defaults) > 1 else "")
            for value, users in defaults.items()
        )
        entries.append(help_entry(f"{group}.{key}", "null", f"{allowed}, {_listed(names)}; null: {null}"))
    return entries


def _default_words(value: Any, allowed: Allowed) -> str:
    """A setting's default as the help page says it: the number, or for None what null means in its range."""
    if value is None:
        return allowed[1].removeprefix("null (").partition(")")[0]
    return f"{value:g}"


_registered = False


def register_configs() -> None:
    """Make the schema, the folder name resolvers and the default launcher's and sweeper's configs known to Hydra
    (before composing; once a process)."""
    global _registered
    if not _registered:
        store_schema()
        register_resolver()
        add_resolver("nnexp_help", registry_help)
        store_launcher_configs()
        _registered = True


def unknown_key_error(key: str, config: DictConfig) -> str:
    """'hiden is not a setting; did you mean hidden? Settings: ...': the settings of the section the key names
    (a section shown as ``data.*``)."""
    section, _, _ = key.rpartition(".")
    node = OmegaConf.select(config, section) if section else config
    prefix = f"{section}." if section else ""
    known = [
        f"{prefix}{name}.*" if isinstance(value, DictConfig) else f"{prefix}{name}"
        for name, value in (node.items() if isinstance(node, DictConfig) else [])
    ]
    near = difflib.get_close_matches(key, [name.removesuffix(".*") for name in known], n=3)
    suggestion = f"; did you mean {' or '.join(near)}?" if near else "."
    return f"{key} is not a setting{suggestion} Settings: {', '.join(known)} (python -m nnexp.run --help)"


def composition_error(exc: HydraException, config: DictConfig | None = None) -> str:
    """Hydra's error for a config it cannot compose, in one line that names the key and what is allowed
    (for an unknown key, the settings of ``config`` that come close)."""
    while exc.__cause__ is not None:  # the innermost error is the one that names the key
        exc = exc.__cause__
    first = str(exc).strip().splitlines()[0]
    if isinstance(exc, MissingConfigException) and "Available options" in str(exc):
        # "In 'config': Could not find 'data/x'", then "Available options in 'data':" and one option a line
        options = str(exc).split("Config search path")[0].partition("Available options")[2].splitlines()[1:]
        return f"{first.split(': ', 1)[-1]}; allowed: {', '.join(o.strip() for o in options if o.strip())}"
    key = getattr(exc, "full_key", None)
    if isinstance(exc, (ConfigKeyError, ConfigAttributeError)) and key and config is not None:
        return unknown_key_error(str(key), config)
    return f"{key}: {first}" if key else first


def first_values(args: list[str]) -> list[str] | None:
    """The overrides of ``args`` with each sweep at its first value; None when ``args`` hold options this check
    leaves to Hydra (``--help``, ``--cfg``, another config ...)."""
    if any(arg.startswith("-") and arg not in MULTIRUN_FLAGS for arg in args):
        return None
    overrides = OverridesParser.create().parse_overrides([arg for arg in args if arg not in MULTIRUN_FLAGS])
    single = []
    for override in overrides:
        if override.is_sweep_override():
            values = list(override.sweep_string_iterator())
            if not values:
                return None
            single.append(f"{override.get_key_element()}={values[0]}")
        else:
            single.append(override.input_line)
    return single


def check_overrides(args: list[str], hydra_config: bool = False) -> DictConfig | None:
    """Raise :class:`ConfigError` (one line) if the configuration ``args`` name does not compose; else return it
    (each sweep at its first value; with its ``hydra`` node if ``hydra_config``), or None when ``args`` are left to
    Hydra (see :func:`first_values`)."""
    try:
        overrides = first_values(args)
    except HydraException:  # a line Hydra cannot parse: Hydra's own message says it best
        return None
    if overrides is None:
        return None
    with initialize_config_dir(config_dir=str(CONFIG_DIR), **COMPOSE_OPTIONS):
        try:
            return compose(config_name=CONFIG_NAME, overrides=overrides, return_hydra_config=hydra_config)
        except HydraException as exc:
            defaults = compose(config_name=CONFIG_NAME)
            OmegaConf.set_readonly(defaults, True)
            run = " ".join(override for override in overrides if not override.startswith(("hydra.", "hydra/")))
            raise ConfigError(f"in the run {run}: {composition_error(exc, defaults)}") from None
