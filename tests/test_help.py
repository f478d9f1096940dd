"""``python -m nnexp.run --help`` (conf/hydra/help/nnexp.yaml): every setting of the schema as KEY=DEFAULT with
its allowed values, every option of every config group, usage lines, no line over 100 characters."""

from __future__ import annotations

import re
import string
from dataclasses import is_dataclass
from enum import Enum
from typing import Any

import pytest
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from nnexp.command_line import register_configs
from nnexp.data.loading import readers
from nnexp.optim import OPTIMIZERS, SCHEDULES
from nnexp.report.metrics import METRICS
from nnexp.setting_kinds import DATA_SOURCE
from tests.conftest import CONF_DIR, run_nnexp

# "  KEY=DEFAULT   allowed: meaning", continued on lines indented to the description's column
ENTRY = re.compile(r"^  (?P<key>[a-z0-9_./]+)=(?P<default>\S+)(?: +(?P<text>\S.*))?$")
CONTINUATION = re.compile(r"^ {20,}(?P<text>\S.*)$")
ENV_DEFAULT = re.compile(r"^\$\{oc\.env:(?P<var>\w+),null\}$")  # a default taken from the environment
register_configs()
# every config group and its options: the folders of conf/, and optimizer=... and lr_schedule=..., which nnexp
# stores in Hydra's ConfigStore (what Hydra accepts, not the registries the help page is written from)
GROUP_OPTIONS = {
    str(d.relative_to(CONF_DIR)): sorted(p.stem for p in d.glob("*.yaml"))
    for d in CONF_DIR.rglob("*")
    if d.is_dir() and any(d.glob("*.yaml"))
} | {
    group: sorted(name.removesuffix(".yaml") for name in ConfigStore.instance().list(group))
    for group in ("optimizer", "lr_schedule")
}
GROUPS = sorted(GROUP_OPTIONS)


def _page(cfg: DictConfig) -> str:
    """The page Hydra prints for ``--help``: its template, interpolated, with string.Template's ``$$`` escapes."""
    return string.Template(cfg.hydra.help.template).substitute()


def _entries(page: str) -> dict[str, tuple[str, str]]:
    """KEY -> (DEFAULT, description with its continuation lines) of every setting the page lists."""
    entries: dict[str, tuple[str, str]] = {}
    key = None
    for line in page.splitlines():
        entry, more = ENTRY.match(line), CONTINUATION.match(line)
        if entry:
            key = entry["key"]
            assert key not in entries, f"{key} is listed twice"
            entries[key] = (entry["default"], entry["text"] or "")
        elif more and key is not None:
            entries[key] = (entries[key][0], f"{entries[key][1]} {more['text']}")
        else:
            key = None
    return entries


def _settings(cfg: DictConfig, prefix: str = "") -> dict[str, Any]:
    """Every setting of the schema (a dotted key) with its value as composed, interpolations unresolved."""
    found: dict[str, Any] = {}
    for key, value in OmegaConf.to_container(cfg, resolve=False).items():
        if is_dataclass(OmegaConf.get_type(cfg, key)):
            found.update(_settings(cfg[key], f"{prefix}{key}."))
        else:
            found[f"{prefix}{key}"] = value
    return found


def _shown(value: Any) -> str:
    """A value as typed on the command line: null, true, 0.1, [test_acc,train_seconds], an enum's name."""
    if isinstance(value, Enum):
        return value.name
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return f"[{','.join(_shown(item) for item in value)}]"
    return str(value)


@pytest.fixture
def config(compose_config) -> DictConfig:
    """The default configuration, hydra node included."""
    return compose_config([], hydra=True)


@pytest.fixture
def settings(compose_config) -> dict[str, Any]:
    """The default settings of a run."""
    return _settings(compose_config([]))


@pytest.fixture
def page(config) -> str:
    return _page(config)


def test_every_setting_is_listed_with_its_default_and_allowed_values(settings, page) -> None:
    entries = _entries(page)
    for key, value in settings.items():
        section, _, name = key.rpartition(".")
        listed = section if name == "name" and section in GROUPS else key  # optimizer.name: optimizer=sgd
        assert listed in entries, f"{listed} is not on the help page"
        default, text = entries[listed]
        from_env = ENV_DEFAULT.match(str(value))
        if from_env:
            assert default == "null" and f"${from_env['var']}" in text, listed
        elif key in DATA_SOURCE and isinstance(value, (dict, list)):
            assert default == "...", listed  # the data group's mirrors, checksums, file names
        else:
            assert default == _shown(value), f"{listed}: the page says {default}, the config {_shown(value)}"
        if isinstance(value, Enum):
            missing = [member.name for member in type(value) if member.name not in text]
            assert not missing, f"{listed}: allowed values {missing} are not on the page"


def test_every_key_on_the_page_exists_with_that_default(config, settings, page) -> None:
    """The other way round: a renamed or removed setting, or a changed launcher default, shows here."""
    choices = config.hydra.runtime.choices
    for key, (default, text) in _entries(page).items():
        if key in choices:  # a config group: GROUP=its default option
            assert default == choices[key], key
        elif key.startswith("hydra."):
            value = OmegaConf.select(config, key)
            assert value is not None and default == _shown(value), key
            if isinstance(value, Enum):
                assert all(member.name in text for member in type(value)), key
        else:
            assert key in settings, f"{key} is on the help page but not a setting"


def test_what_a_data_set_sets_differently_is_on_the_page(compose_config, settings, page) -> None:
    """data=digits sets its own epochs, batch_size and data.val_size: each entry names them (data=digits: 30)."""
    entries = _entries(page)
    for option in sorted(p.stem for p in (CONF_DIR / "data").glob("*.yaml")):
        for key, value in _settings(compose_config([f"data={option}"])).items():
            if value == settings[key] or key in ("data.name", "data.loader"):
                continue
            text = entries[key][1]
            from_env = ENV_DEFAULT.match(str(value))
            if from_env:
                assert f"${from_env['var']}" in text, f"data={option}: {key}"
            elif key not in DATA_SOURCE:  # where the files come from differs by data set anyway
                assert f"data={option}: {_shown(value)}" in text, f"data={option} sets {key}={_shown(value)}"


def test_the_defaults_behind_null_and_the_open_vocabularies_are_named(page) -> None:
    entries = _entries(page)
    for group, settings_of in (
        ("optimizer", {name: optimizer.SETTINGS for name, optimizer in OPTIMIZERS.items()}),
        ("lr_schedule", {name: schedule.settings for name, schedule in SCHEDULES.items()}),
    ):
        for owner, defaults in settings_of.items():
            for key, default in defaults.items():
                text = entries[f"{group}.{key}"][1]
                assert owner in text and (default is None or _shown(default) in text), f"{group}.{key} ({owner})"
    assert all(metric in entries["report.metrics"][1] for metric in METRICS)
    assert all(loader in entries["data.loader"][1] for loader in readers())


def test_every_option_of_every_config_group_is_named(page) -> None:
    for group in GROUPS:
        if group == "hydra/help":
            continue
        for option in GROUP_OPTIONS[group]:
            assert re.search(rf"\b{option}\b", page), f"{group}={option} is not on the help page"


def test_the_page_shows_usage_and_fits_in_100_columns(page) -> None:
    for usage in (
        "python -m nnexp.run [KEY=VALUE ...]",
        "python -m nnexp.run -m activation=sigmoid,relu hidden=32,64",
        "python -m nnexp.run -m +experiment=w000_tables",
        "--cfg job",
        "outputs/<date>_<time>/",
        "multirun/<the command>/",
        "fresh=false",
        "dropout=0                       in [0, 1)",
    ):
        assert usage in page
    assert [line for line in page.splitlines() if len(line) > 100] == []


@pytest.mark.slow
def test_help_prints_the_page_and_runs_nothing(tmp_path, page) -> None:
    done = run_nnexp(["--help"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.rstrip("\n") == page
    assert list(tmp_path.iterdir()) == []  # no outputs/ folder: nothing ran


def test_help_is_answered_without_hydra_only_where_the_page_is_the_same(page) -> None:
    from nnexp.errors import ConfigError
    from nnexp.run import help_page

    assert help_page([]) == page and help_page(["-m", "hidden=8,16", "data=digits"]) == page  # sweeps: first value
    assert help_page(["--cfg", "job"]) is None  # other options: Hydra answers
    assert help_page(["hydra/help=default"]) is None  # Hydra's own $FLAGS_HELP, $CONFIG ...: Hydra fills them
    with pytest.raises(ConfigError, match="hiden is not a setting; did you mean hidden"):
        help_page(["hiden=3"])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "status", "first_line"),
    [
        (["--help", "--cfg", "job"], 0, "nnexp: NumPy MLPs"),
        (["-q", "-m", "hidden=8,16", "--help"], 0, "nnexp: NumPy MLPs"),
        (["hydra/help=default", "--help"], 0, "run is powered by Hydra."),
        (["--help", "hiden=3"], 2, "error: in the run hiden=3: hiden is not a setting; did you mean hidden?"),
    ],
    ids=["cfg", "sweep", "hydra-template", "bad-key"],
)
def test_help_with_other_arguments_prints_a_page_or_one_line(tmp_path, args, status, first_line) -> None:
    done = run_nnexp(args, tmp_path)
    shown = done.stdout if status == 0 else done.stderr
    assert done.returncode == status and shown.startswith(first_line), done.stdout + done.stderr
    assert status == 0 or (done.stdout == "" and len(done.stderr.splitlines()) == 1)
    assert list(tmp_path.iterdir()) == []
