"""The job of a pack's leader (:mod:`nnexp.sweep.packing`): the other members' settings, composed from the sweep
plan as their own jobs compose them, and a log file for each."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from omegaconf import OmegaConf

from nnexp.config import Config
from nnexp.errors import NnexpError
from nnexp.results.files import read_finished
from nnexp.results.plan_file import PlannedJob, read_plan
from nnexp.sweep.planning import JobComposer, compose_job
from nnexp.training.spec import RunSpec

log = logging.getLogger("nnexp.run")


@dataclass(frozen=True)
class PackRole:
    """A job's part in a pack: the members it trains as their leader (``members``: folder and settings), or the
    leader that trains it (``packed_by``)."""

    members: tuple[tuple[Path, Config], ...] = ()
    packed_by: str | None = None
    sweep_started: str | None = None  # when the sweep that planned the pack started (its plan's ``started``)


def pack_role(sweep_dir: Path, folder: str, config_name: str, hydra_overrides: list[str]) -> PackRole:
    """The part of the job in ``sweep_dir``/``folder`` in its pack, from the latest plan of the sweep. A member
    whose settings no longer compose to the configuration planned for it is left to its own job."""
    plan = read_plan(sweep_dir)
    jobs = {job.dir: job for job in plan.jobs or ()} if plan is not None else {}
    job = jobs.get(folder)
    if job is None or not (job.pack or job.packed_by):
        return PackRole()
    if job.packed_by:
        return PackRole(packed_by=job.packed_by, sweep_started=plan.latest.started if plan.latest else None)
    composer = JobComposer(
        OmegaConf.create({"hydra": {"job": {"config_name": config_name}, "overrides": {"hydra": hydra_overrides}}})
    )
    members = []
    for member in (jobs.get(name) for name in job.pack):
        settings = _composed(composer, member)
        if settings is not None:
            members.append((sweep_dir / member.dir, settings))
    return PackRole(members=tuple(members))


def _composed(composer: JobComposer, member: PlannedJob | None) -> Config | None:
    """A member's settings, if they compose to the configuration its job was planned with (else None, said)."""
    if member is None:
        return None
    try:
        settings = compose_job(composer, list(member.overrides))[1]
        if RunSpec.from_settings(settings).fingerprint == member.fingerprint:
            return settings
    except NnexpError as exc:
        log.warning("%s trains alone: %s", member.dir, exc)
        return None
    log.warning("%s trains alone: its configuration changed since the sweep was planned", member.dir)
    return None


def unforced(settings: Config, out_dir: Path, sweep_started: str | None) -> Config:
    """A member's settings for its own job: with ``force``, not forced again when its folder holds a result its
    leader started in this sweep (started at ``sweep_started``); forced when its result is older (its leader did not
    reach it), as every run of a forced sweep is."""
    if not settings.force or sweep_started is None:
        return settings
    summary = read_finished(out_dir)
    started = summary.started if summary is not None else None
    try:
        trained_now = started is not None and datetime.fromisoformat(started) >= datetime.fromisoformat(sweep_started)
    except (TypeError, ValueError):  # not a time: not this sweep's
        trained_now = False
    return replace(settings, force=False) if trained_now else settings


@contextlib.contextmanager
def member_logs(paths: list[Path]) -> Iterator[list[logging.Logger]]:
    """A logger for each member of a pack, writing to its own log file (``paths``) as its own job would, and to the
    console as its own job would (the console handlers of the leader's job, with their filters: in a sweep its
    warnings, errors and sweep lines); not to the leader's log file."""
    root = logging.getLogger().handlers
    model = next((h for h in root if isinstance(h, logging.FileHandler)), None)
    consoles = [h for h in root if not isinstance(h, logging.FileHandler)]
    loggers, handlers = [], []
    try:
        for index, path in enumerate(paths):
            member_log = logging.getLogger(f"nnexp.run.member{index}")
            member_log.propagate = False
            member_log.setLevel(logging.getLogger().getEffectiveLevel())
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(path)
            if model is not None and model.formatter is not None:
                handler.setFormatter(model.formatter)
            member_log.addHandler(handler)
            for console in consoles:
                member_log.addHandler(console)
            loggers.append(member_log)
            handlers.append((member_log, handler))
        yield loggers
    finally:
        for member_log, handler in handlers:
            for console in consoles:  # the leader's: it keeps them
                member_log.removeHandler(console)
            member_log.removeHandler(handler)
            handler.close()
