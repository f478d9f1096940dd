"""The plan of a sweep: every job of the grid composed and validated before the first run starts.

Hydra composes a job in two steps: it merges the configs its defaults list selects (config
groups: ``data=fashion_mnist``, ``+experiment=...``), then applies the plain value overrides
(``hidden=64``, ``lr=0.1``) to the result. The jobs of a grid usually differ in values only, so
:class:`JobComposer` does the first step once per distinct set of group choices and the second
per job, the way Hydra does it. That is what makes checking a sweep of hundreds of runs cheap
(a full composition costs ~40 ms a job); a test checks that both give the same configs.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import logging
import math
import sys
from pathlib import Path
from typing import Any

from hydra import compose
from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import ConfigCompositionException, HydraException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from nnexp.command_line import composition_error
from nnexp.config import Config
from nnexp.data.loading import damaged_caches, prepare_data
from nnexp.errors import ConfigError, NnexpError
from nnexp.model.loss import n_outputs
from nnexp.results import FINISHED, SUMMARY_FILE, read_summary
from nnexp.results.files import finished_summary
from nnexp.training.memory import MemoryEstimate, available_memory, check_fits, estimate_memory
from nnexp.training.spec import RunSpec

log = logging.getLogger(__name__)

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"

# The fixed cost of one SGD step (Python, small array ops; ~25 us measured at batch size 1)
# in matmul FLOPs (the trainer's ~160 GFLOP/s at H=256, batch 64, one thread).
STEP_COST_FLOPS = 4e6


def planned_jobs(config: DictConfig) -> list[list[str]] | None:
    """The override lists of every job the basic sweeper will launch (None for other sweepers)."""
    if config.hydra.sweeper.get("_target_") != BASIC_SWEEPER:
        return None
    params = [f"{key}={value}" for key, value in (config.hydra.sweeper.get("params") or {}).items()]
    overrides = OverridesParser.create().parse_overrides(params + list(config.hydra.overrides.task))
    return [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]


class JobComposer:
    """Composes the jobs of a sweep as Hydra's sweeper does (the command line's Hydra overrides
    first, then the job's own), merging each distinct set of config-group choices only once."""

    def __init__(self, config: DictConfig) -> None:
        self.config_name = config.hydra.job.config_name
        self.hydra_overrides = list(config.hydra.overrides.hydra)
        loader = GlobalHydra.instance().config_loader()
        # the config repository as Hydra sees it with these overrides (they may extend the search path)
        _, self._repository = loader._parse_overrides_and_create_caching_repo(self.config_name, self.hydra_overrides)
        self._parser = OverridesParser.create()
        self._templates: dict[tuple[str, ...], DictConfig] = {}

    def _is_value_change(self, override: Override) -> bool:
        """A plain ``key=value`` change of the job config, which Hydra applies after merging the defaults."""
        return not (
            override.is_hydra_override()
            or override.is_add()
            or override.is_force_add()
            or override.is_delete()
            or override.package is not None
            or isinstance(override.value(), dict)
            or self._repository.group_exists(override.key_or_group)
        )

    def compose(self, overrides: list[str]) -> DictConfig:
        """The job's config, hydra node included: what ``compose`` gives for the same overrides."""
        parsed = self._parser.parse_overrides(overrides)
        is_change = [self._is_value_change(override) for override in parsed]
        changes = [override for override, change in zip(parsed, is_change) if change]
        choices = tuple(override.input_line for override, change in zip(parsed, is_change) if not change)
        if choices not in self._templates:
            self._templates[choices] = compose(
                config_name=self.config_name, overrides=self.hydra_overrides + list(choices), return_hydra_config=True
            )
        job = copy.deepcopy(self._templates[choices])
        try:
            ConfigLoaderImpl._apply_overrides_to_config(changes, job)
        except OmegaConfBaseException as exc:  # as Hydra's own composition reports it
            raise ConfigCompositionException().with_traceback(sys.exc_info()[2]) from exc
        task = [override for override in parsed if not override.is_hydra_override()]
        names = job.hydra.job.config.override_dirname
        with open_dict(job.hydra):
            job.hydra.overrides.task = [override.input_line for override in task]
            job.hydra.job.override_dirname = get_overrides_dirname(
                task, exclude_keys=list(names.exclude_keys), item_sep=names.item_sep, kv_sep=names.kv_sep
            )
        return job


def estimated_work(spec: RunSpec) -> float | None:
    """A run's FLOPs (training, its steps' fixed cost, evaluation of train and validation images each epoch).

    What the launcher orders runs by, longest first; None while the data is not on this machine.
    """
    if spec.data_shape is None or spec.n_train is None:
        return None
    n_total, n_features = spec.data_shape
    n_train = spec.n_train
    sizes = [n_features, *spec.hidden, n_outputs(spec.n_classes)]
    weights = sum(fan_in * fan_out for fan_in, fan_out in itertools.pairwise(sizes))
    steps = math.ceil(n_train / (spec.batch_size or n_train))
    # forward 2 FLOPs a weight and sample, backward twice that
    return float(spec.epochs * (6 * weights * n_train + steps * STEP_COST_FLOPS + 2 * weights * n_total))


def compose_job(composer: JobComposer, overrides: list[str]) -> tuple[str, Config]:
    """A job's run folder and its settings, as its run will see them; one line naming the run if they do not compose."""
    try:
        job = composer.compose(overrides)
    except HydraException as exc:
        raise ConfigError(f"in the run {' '.join(overrides)}: {composition_error(exc)}") from None
    folder = str(OmegaConf.select(job, "hydra.sweep.subdir"))
    with open_dict(job):
        del job["hydra"]
    return folder, OmegaConf.to_object(job)


def plan_job(
    sweep_dir: Path, overrides: list[str], folder: str, settings: Config, data_ok: bool = True
) -> dict[str, Any]:
    """Validate one job's settings; return its folder, whether it finished already, and its work.

    On data that could not be prepared (``data_ok`` false) a job that cannot be checked is planned to run:
    the run fails by itself, with the data's error, and the sweep goes on.
    """
    try:
        spec = RunSpec.from_settings(settings)
    except NnexpError as exc:
        if not data_ok:
            unchecked = {"fingerprint": "", "finished_before": False, "work": None, "memory": None}
            return {"overrides": overrides, "dir": folder, "force": bool(settings.force), **unchecked}
        raise ConfigError(f"in the run {' '.join(overrides)}: {exc}") from None
    bad_data = damaged_caches(spec.data)
    done = not settings.force and finished_summary(sweep_dir / folder, spec.fingerprint, bad_data) is not None
    memory = estimate_memory(spec)
    return {
        "overrides": overrides,
        "dir": folder,
        "fingerprint": spec.fingerprint,
        "finished_before": done,
        "force": bool(settings.force),
        "work": 0.0 if done else estimated_work(spec),
        "memory": dataclasses.asdict(memory) if memory else None,
    }


def finished_runs(sweep_dir: Path, bad_data: set[str]) -> dict[str, str]:
    """The folder of each finished run in ``sweep_dir`` (not on damaged arrays, ``bad_data``), by the
    fingerprint of its configuration."""
    found: dict[str, str] = {}
    for path in sorted(sweep_dir.glob(f"*/{SUMMARY_FILE}")):
        try:
            summary = read_summary(path)
        except (OSError, ValueError):
            continue
        if (
            summary.get("status") in FINISHED
            and summary.get("fingerprint")
            and summary.get("data_cache") not in bad_data
        ):
            found.setdefault(summary["fingerprint"], path.parent.name)
    return found


def plan_sweep(config: DictConfig, sweep_dir: Path) -> list[dict[str, Any]] | None:
    """Every job of the sweep, checked, with its folder (None when the sweeper is not the basic one).

    The data of the jobs is prepared first, once (:func:`nnexp.data.prepare_data`: downloaded, decoded,
    its cached arrays verified), so a run finished on arrays found damaged is planned again.
    One configuration is run once: a job with the configuration of a run finished in another folder of the
    sweep (an explicit default, another spelling) gets that folder as its ``dir`` and ``finished_before``; a
    job with the configuration of an earlier job of the grid gets ``same_as`` that job's folder. Neither runs.
    """
    jobs = planned_jobs(config)
    if jobs is None:
        return None
    composer = JobComposer(config)
    composed = [(overrides, *compose_job(composer, overrides)) for overrides in jobs]
    data = {repr(settings.data): settings.data for _, _, settings in composed}  # distinct data settings
    problems = {}
    for name, data_config in data.items():
        try:
            prepare_data(data_config)
        except NnexpError as exc:
            problems[name] = exc
    if problems and len(problems) == len(data):  # no run has data: the sweep stops, with the (first) error
        raise next(iter(problems.values()))
    for name, exc in problems.items():  # the runs on this data fail, each with this error; the others go on
        log.warning("data %s cannot be prepared, its runs will fail: %s", data[name].name, exc)
    planned = [plan_job(sweep_dir, *job, data_ok=repr(job[2].data) not in problems) for job in composed]
    finished = finished_runs(sweep_dir, set().union(*(damaged_caches(d) for d in data.values())))
    first: dict[str, str] = {}
    for job in planned:
        fingerprint = job["fingerprint"]
        if not fingerprint:  # not checked (its data could not be prepared): it runs, and fails, on its own
            continue
        if fingerprint in first:
            job.update(same_as=first[fingerprint], work=0.0)
        elif not job["finished_before"] and not job["force"] and finished.get(fingerprint, job["dir"]) != job["dir"]:
            job.update(dir=finished[fingerprint], finished_before=True, work=0.0)
        first.setdefault(fingerprint, job["dir"])
    return planned


def check_memory(jobs: list[dict[str, Any]], at_once: int) -> None:
    """Refuse in one line a sweep whose ``at_once`` largest runs would not fit in the memory available now."""
    estimates = {
        " ".join(job["overrides"]) or job["dir"]: MemoryEstimate(**job["memory"])
        for job in distinct_runs(jobs)
        if job["memory"] and not job["finished_before"]
    }
    check_fits(estimates, at_once, available_memory())


def distinct_runs(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The jobs that run (or ran) a configuration of their own, one per folder: the sweep's runs."""
    seen, runs = set(), []
    for job in jobs:
        if "same_as" not in job and job["dir"] not in seen:
            seen.add(job["dir"])
            runs.append(job)
    return runs
