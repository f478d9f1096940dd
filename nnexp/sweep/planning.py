"""The plan of a grid sweep: every job composed and checked before the first run starts, and given its folder.

Hydra composes a job in two steps: it merges the configs its defaults list selects (config groups:
``data=fashion_mnist``, ``+experiment=...``), then applies the plain value overrides (``hidden=64``,
``lr=0.1``) to the result. The jobs of a grid usually differ in values only, so :class:`JobComposer`
does the first step once per distinct set of group choices (Hydra's Compose API) and the second per
job, as Hydra applies them (``OmegaConf.update``); a test checks that both give the same configs.

A run is known by its fingerprint (:func:`nnexp.training.spec.fingerprint`: its resolved settings and its
data's content), never by spelling or path. One fingerprint has one folder in a sweep: the folder it already
has, else its readable name (:mod:`nnexp.sweep.naming`), else, when another configuration holds that name,
the name with the fingerprint's start.
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
from pathlib import Path

from hydra import compose
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import ConfigCompositionException, HydraException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from nnexp.command_line import composition_error
from nnexp.config import Config
from nnexp.data import DataConfig, split_sizes
from nnexp.data.loading import damaged_caches, prepare_data
from nnexp.errors import ConfigError, NnexpError
from nnexp.model.loss import n_outputs
from nnexp.results import SUMMARY_FILE, RunStatus, load_summary
from nnexp.results.files import finished_summary
from nnexp.results.plan_file import PlannedJob, planned_runs
from nnexp.sweep.grid import grid_jobs, is_grid_sweep, sweep_arguments
from nnexp.sweep.naming import override_dirname, run_dir_name
from nnexp.sweep.packing import form_packs
from nnexp.sweep.plan import distinct_runs
from nnexp.training.memory import available_memory, check_fits, estimate_memory
from nnexp.training.spec import RunSpec, check_values

log = logging.getLogger(__name__)

# The fixed cost of one SGD step (Python, small array ops; ~25 us measured at batch size 1)
# in matmul FLOPs (the trainer's ~160 GFLOP/s at H=256, batch 64, one thread).
STEP_COST_FLOPS = 4e6


class JobComposer:
    """Composes the task config of each job of a sweep as Hydra does (the command line's Hydra overrides first,
    then the job's own), merging each distinct set of config-group choices only once."""

    def __init__(self, config: DictConfig) -> None:
        self.config_name = config.hydra.job.config_name
        self.hydra_overrides = list(config.hydra.overrides.hydra)
        self._parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
        self._templates: dict[tuple[str, ...], tuple[DictConfig, frozenset[str]]] = {}
        # the config groups known before a job is composed: the given config's, if it was composed (else none)
        self._groups = frozenset(OmegaConf.select(config, "hydra.runtime.choices", default=None) or {})

    def start_from_sweep(self, config: DictConfig) -> None:
        """Take ``config``, the sweep's own config as Hydra composed it (the command line's overrides but its sweeps),
        as the template of the jobs whose config-group choices are the command line's (the jobs of a grid that
        sweeps values only): those jobs need no composition of their own. Its plain values, applied already, are
        every job's too (a job sets them again, to the same value or to the one it sweeps)."""
        overrides = [o for o in self.parse(list(config.hydra.overrides.task)) if not o.is_sweep_override()]
        # spelled as the grid spells each job's overrides (nnexp.sweep.grid.grid_jobs)
        choices = tuple(
            f"{o.get_key_element()}={o.get_value_element_as_str()}"
            for o in overrides
            if not self._is_value_change(o, self._groups)
        )
        job = copy.deepcopy(config)
        with open_dict(job):
            del job["hydra"]
        self._templates[choices] = (job, self._groups)

    def _template(self, choices: tuple[str, ...]) -> tuple[DictConfig, frozenset[str]]:
        """The task config the defaults list gives with ``choices``, and the config groups it has."""
        if choices not in self._templates:
            job = compose(
                config_name=self.config_name, overrides=self.hydra_overrides + list(choices), return_hydra_config=True
            )
            groups = frozenset(job.hydra.runtime.choices)
            with open_dict(job):
                del job["hydra"]
            self._templates[choices] = (job, groups)
        return self._templates[choices]

    @staticmethod
    def _is_value_change(override: Override, groups: frozenset[str]) -> bool:
        """A plain ``key=value`` change of the job config, which Hydra applies after merging the defaults."""
        return not (
            override.is_hydra_override()
            or override.is_add()
            or override.is_force_add()
            or override.is_delete()
            or override.package is not None
            or isinstance(override.value(), dict)
            or override.key_or_group in groups
        )

    def parse(self, overrides: list[str]) -> list[Override]:
        """A job's overrides, parsed (Hydra's override grammar)."""
        return self._parser.parse_overrides(overrides)

    def compose(self, overrides: list[Override]) -> DictConfig:
        """The job's task config (no hydra node): what ``compose`` gives for the same overrides."""
        choices, groups = None, self._groups
        while True:  # the groups a choice brings in (an experiment's defaults) make more overrides choices
            regrouped = tuple(str(o.input_line) for o in overrides if not self._is_value_change(o, groups))
            if regrouped == choices:
                break
            choices = regrouped
            template, groups = self._template(choices)
        changes = [o for o in overrides if self._is_value_change(o, groups)]
        choices_made = [o for o in overrides if o.key_or_group in groups and not isinstance(o.value(), dict)]
        edits = [o for o in overrides if not (o.is_hydra_override() or o in changes or o in choices_made)]
        if any(_overlap(a.key_or_group, b.key_or_group) for a in changes for b in edits):
            # Hydra applies +key / ++key / ~key and plain values in their order: one of each on the same key
            # comes out as Hydra composes it only by composing it whole
            return compose(
                config_name=self.config_name, overrides=self.hydra_overrides + [str(o.input_line) for o in overrides]
            )
        job = copy.deepcopy(template)
        for override in changes:
            _apply(job, override)
        return job


def _overlap(key: str, other: str) -> bool:
    """Whether two dotted keys name the same node, or one lies below the other."""
    return key == other or key.startswith(f"{other}.") or other.startswith(f"{key}.")


def _apply(job: DictConfig, override: Override) -> None:
    """Set a value as Hydra's composition does, failing with its errors."""
    try:
        OmegaConf.update(job, override.key_or_group, override.value(), merge=True)
    except (ConfigAttributeError, ConfigKeyError) as exc:
        raise ConfigCompositionException(
            f"Could not override '{override.key_or_group}'.\nTo append to your config use +{override.input_line}"
        ) from exc
    except OmegaConfBaseException as exc:
        raise ConfigCompositionException(f"Error merging override {override.input_line}") from exc


def estimated_work(spec: RunSpec) -> float | None:
    """A run's FLOPs (training, its steps' fixed cost, evaluation of the validation images each epoch: the training
    split's metrics come from training itself).

    What the launcher orders runs by, longest first; None while the data is not on this machine.
    """
    if spec.data_shape is None or spec.n_train is None:
        return None
    n_total, n_features = spec.data_shape
    n_train = spec.n_train
    n_val = split_sizes(n_total, spec.data.val_size, None)[0]
    sizes = [n_features, *spec.hidden, n_outputs(spec.n_classes)]
    weights = sum(fan_in * fan_out for fan_in, fan_out in itertools.pairwise(sizes))
    steps = math.ceil(n_train / (spec.batch_size or n_train))
    # forward 2 FLOPs a weight and sample, backward twice that
    return float(spec.epochs * (6 * weights * n_train + steps * STEP_COST_FLOPS + 2 * weights * n_val))


def _run_line(overrides: list[str]) -> str:
    return " ".join(overrides) or "(the defaults)"


def compose_job(composer: JobComposer, overrides: list[str]) -> tuple[list[Override], Config]:
    """A job's parsed overrides and its settings, as its run will see them; one line naming the run if they do
    not compose or a value is outside its domain (before any data is prepared)."""
    try:
        parsed = composer.parse(overrides)
        settings = OmegaConf.to_object(composer.compose(parsed))
    except HydraException as exc:
        raise ConfigError(f"in the run {_run_line(overrides)}: {composition_error(exc)}") from None
    try:
        check_values(settings)
    except ConfigError as exc:
        raise ConfigError(f"in the run {_run_line(overrides)}: {exc}") from None
    return parsed, settings


def readable_name(overrides: list[Override], spec: RunSpec | None) -> str:
    """The folder name a job's overrides give (see :func:`nnexp.sweep.naming.run_dir_name`)."""
    roots = [str(o.input_line).partition("=")[2] for o in overrides if o.key_or_group == "data.root"]
    digest = spec.data_identity.digest if spec is not None and spec.data_identity is not None else None
    return run_dir_name(override_dirname(overrides), roots[-1] if roots else None, digest)


# What a folder whose summary.json is not a summary nnexp reads (damaged, or another version's) is held by: no
# configuration, so that none writes into files it cannot verify (they stay as they are; the report lists them)
UNREADABLE_SUMMARY = "an unreadable summary.json"


def folder_fingerprints(sweep_dir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The configuration each run folder of ``sweep_dir`` holds, by folder (its summary's fingerprint, else the one a
    plan gave it; :data:`UNREADABLE_SUMMARY` for a summary that cannot be read; folders with none of these hold
    nothing that counts); and those no other configuration may take: all but the folders of failed runs (a result,
    a run stopped with its checkpoint, a run planned or running now)."""
    held = {folder: run.fingerprint for folder, run in planned_runs(sweep_dir).items() if run.fingerprint}
    failed = set()
    for path in sweep_dir.glob(f"*/{SUMMARY_FILE}"):
        try:
            summary = load_summary(path)
        except OSError:  # gone meanwhile, or not a file
            continue
        except ValueError:
            held[path.parent.name] = UNREADABLE_SUMMARY
            continue
        if summary.fingerprint:
            held[path.parent.name] = summary.fingerprint
            if summary.status == RunStatus.failed:
                failed.add(path.parent.name)
    return held, {folder: fingerprint for folder, fingerprint in held.items() if folder not in failed}


def _prepare(jobs: list[tuple[list[str], Config]]) -> dict[str, NnexpError]:
    """Prepare each distinct data set of the sweep's jobs (overrides, settings) once; the errors of those that
    cannot be, by data settings.

    Raises the (first) error when no run has its data, and a :class:`ConfigError` naming the run whose data
    settings the data does not allow (a count beyond its images).
    """
    data: dict[str, tuple[list[str], DataConfig]] = {}
    for overrides, settings in jobs:
        data.setdefault(repr(settings.data), (overrides, settings.data))
    problems = {}
    for name, (overrides, data_config) in data.items():
        try:
            prepare_data(data_config)
        except ConfigError as exc:
            raise ConfigError(f"in the run {_run_line(overrides)}: {exc}") from None
        except NnexpError as exc:
            problems[name] = exc
    if problems and len(problems) == len(data):  # no run has data: the sweep stops, with the (first) error
        raise next(iter(problems.values()))
    for name, exc in problems.items():  # the runs on this data fail, each with this error; the others go on
        log.warning("data %s cannot be prepared, its runs will fail: %s", data[name][1].name, exc)
    return problems


def plan_sweep(config: DictConfig, sweep_dir: Path, workers: int = 1) -> list[PlannedJob] | None:
    """Every job of the grid, checked, with its folder (None unless the sweeper is nnexp's grid sweeper).

    The data of the jobs is prepared first, once (:func:`nnexp.data.prepare_data`: downloaded, decoded, its
    cached arrays verified), so a run finished on arrays found damaged since is planned again, in its folder.
    A job whose configuration has a verified finished run in the sweep is ``finished_before`` (in that run's
    folder, whatever its name); a job with the configuration of an earlier job of the grid is ``same_as`` that
    job's folder. Neither runs. On data that could not be prepared a job that cannot be checked is planned to
    run: the run fails by itself, with the data's error, and the sweep goes on. The runs that can train together
    form packs, at least one per ``workers`` (:mod:`nnexp.sweep.packing`).
    """
    if not is_grid_sweep(config):
        return None
    composer = JobComposer(config)
    composer.start_from_sweep(config)
    composed = [(overrides, *compose_job(composer, overrides)) for overrides in grid_jobs(sweep_arguments(config))]
    problems = _prepare([(overrides, settings) for overrides, _, settings in composed])
    bad_data: dict[str, set[str]] = {}
    held, taken = folder_fingerprints(sweep_dir)
    # each configuration's folder: one that holds it (the first by name, if a copy made several)
    folder_of = {fingerprint: folder for folder, fingerprint in sorted(held.items(), reverse=True)}
    planned, first, keys = [], {}, []
    for overrides, parsed, settings in composed:
        keys.append(None)
        try:
            spec = RunSpec.from_settings(settings)
        except NnexpError as exc:
            if repr(settings.data) in problems:
                planned.append(PlannedJob(tuple(overrides), readable_name(parsed, None)))
                continue
            raise ConfigError(f"in the run {_run_line(overrides)}: {exc}") from None
        fingerprint = spec.fingerprint
        if fingerprint in first:
            planned.append(PlannedJob(tuple(overrides), first[fingerprint], fingerprint, same_as=first[fingerprint]))
            continue
        folder = folder_of.get(fingerprint) or readable_name(parsed, spec)
        if taken.get(folder, fingerprint) != fingerprint:  # the name holds another configuration's run
            folder = f"{folder}@{fingerprint[:8]}"
        taken[folder] = fingerprint  # planned for this configuration now: no other one takes it
        first[fingerprint] = folder
        key = repr(settings.data)
        if key not in bad_data:
            bad_data[key] = damaged_caches(spec.data)
        done = not settings.force and finished_summary(sweep_dir / folder, fingerprint, bad_data[key]) is not None
        job = PlannedJob(tuple(overrides), folder, fingerprint, work=estimated_work(spec), memory=estimate_memory(spec))
        planned.append(job.skipped() if done else job)
        keys[-1] = spec.pack_key
    return form_packs(planned, keys, workers)


def check_memory(jobs: list[PlannedJob], at_once: int) -> None:
    """Refuse in one line a sweep whose ``at_once`` largest runs would not fit in the memory available now."""
    estimates = {_run_line(list(job.overrides)): job.memory for job in distinct_runs(jobs) if job.memory and job.runs}
    check_fits(estimates, at_once, available_memory())
