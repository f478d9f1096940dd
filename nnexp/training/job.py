"""One run in its folder: check the settings, load the data, train, write ``metrics.csv`` and ``summary.json``."""

from __future__ import annotations

import contextlib
import logging
import platform
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from threadpoolctl import threadpool_limits

import nnexp
from nnexp.config import Config, TrackerName
from nnexp.console import SWEEP_LINE
from nnexp.data import PackData, Splits, load_dataset
from nnexp.data.loading import damaged_caches
from nnexp.data.splits import split_indices
from nnexp.errors import ConfigError, NnexpError
from nnexp.model import MLP
from nnexp.model.loss import n_outputs
from nnexp.places import remove_leftovers
from nnexp.results import EPOCH_COLUMNS, ERROR_FILE, METRICS_FILE, SUMMARY_FILE, MetricsCSV, RunStatus, RunSummary
from nnexp.results.files import (
    damage,
    disk_full_message,
    finished_summary,
    is_disk_full,
    read_epoch_rows,
    read_finished,
    run_lock,
    set_aside,
    write_json_atomic,
    written_files,
)
from nnexp.results.model_file import MODEL_FILE, save_model
from nnexp.results.summary import FINAL_METRICS, metrics_definition_of
from nnexp.training.checkpoint import CHECKPOINT_FILE, Checkpointer
from nnexp.training.diagnostics import diagnostic_columns
from nnexp.training.interrupt import Interrupted, stop_on_signals
from nnexp.training.loop import Member, TrainResult, train_pack
from nnexp.training.memory import available_memory, check_fits, estimate_memory
from nnexp.training.seeding import seeded_start
from nnexp.training.spec import (
    METRICS_DEFINITION,
    RunSpec,
    check_batch_fits,
    config_record,
    data_identity,
    fingerprint,
    result_settings,
)
from nnexp.training.stopped_time import count_stopped_time

if TYPE_CHECKING:
    from nnexp.tracking.opening import TrackedRun

log = logging.getLogger("nnexp.run")

# The files a run writes into its folder (besides Hydra's: its log and .hydra/)
RUN_FILES = (SUMMARY_FILE, METRICS_FILE, MODEL_FILE, ERROR_FILE, CHECKPOINT_FILE)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def summarise(history: list[dict], result: TrainResult, model: MLP, sizes: dict[str, int], **origin) -> RunSummary:
    """Final (the kept epoch's) and best metrics, timing and size of a finished run; ``origin`` fills the
    remaining fields."""
    final = history[result.kept_epoch - 1] if history and result.kept_epoch else {}
    best = max(history, key=lambda r: r["val_acc"] if np.isfinite(r["val_acc"]) else -1.0, default={})
    return RunSummary(
        status=result.status,
        epochs_completed=result.epochs_completed,
        stop_reason=result.stop_reason,
        kept_epoch=result.kept_epoch or None,
        **{key: final.get(key, float("nan")) for key in FINAL_METRICS},
        best_epoch=best.get("epoch"),
        best_val_acc=best.get("val_acc", float("nan")),
        test_acc_at_best_val=best.get("test_acc", float("nan")),
        train_seconds=result.train_seconds,
        eval_seconds=result.eval_seconds,
        samples_per_second=result.samples_seen / result.train_seconds if result.train_seconds else float("nan"),
        n_params=model.n_params,
        layer_sizes=model.layer_sizes,
        **sizes,
        **origin,
    )


def _train_runs(runs: list[_Run]) -> list[RunSummary | Exception]:
    """Train ``runs`` (checked, in their folders), those that share a pack key together
    (:func:`~nnexp.training.loop.train_pack`), the others alone; each one's summary, or the error of its own part."""
    groups: dict[object, list[int]] = {}
    for index, run in enumerate(runs):
        groups.setdefault(run.spec.pack_key or ("alone", index), []).append(index)
    outcomes: list[RunSummary | Exception] = [RuntimeError("not trained")] * len(runs)
    for indices in groups.values():
        for index, outcome in zip(indices, _train_pack([runs[index] for index in indices])):
            outcomes[index] = outcome
    return outcomes


def _train_pack(runs: list[_Run]) -> list[RunSummary | Exception]:
    """Train ``runs``, which share their data set and layer sizes (:attr:`RunSpec.pack_key`), as one pack: on one
    split, or on a pool of their splits (:class:`~nnexp.data.PackData`)."""
    first = runs[0].spec
    threads = first.blas_threads or 1
    with threadpool_limits(limits=threads, user_api="blas"), contextlib.ExitStack() as files:
        splits = _splits_of([run.spec for run in runs])
        members = []
        for run, data in zip(runs, splits):
            spec, log = run.spec, run.log
            log.info("data %s: %s, %d features", spec.data.name, data.sizes(), data.n_features)
            for warning in data.warnings():
                log.warning("data warning: %s", warning)
            if spec.n_train is None:  # the files were not here to check it before
                check_batch_fits(spec, len(data.y_train))
            if len(runs) > 1:
                log.info("trained in a pack of %d runs: %s", len(runs), ", ".join(r.out_dir.name for r in runs))
            members.append(_member(run, data, files))
        data_of_pack = _pack_data([run.spec for run in runs], splits)
        results = train_pack(members, data_of_pack, first.batch_size)
        read_from = {splits[j].cache_generation for j in data_of_pack.sources} if data_of_pack.pooled else set()
        outcomes: list[RunSummary | Exception] = []
        for run, data, member, result in zip(runs, splits, members, results):
            if result.error is not None:
                outcomes.append(result.error)
                continue
            if run.spec.save_model:
                diverged = result.status == RunStatus.diverged
                save_model(run.out_dir / MODEL_FILE, member.model, data.preprocess, run.spec.config, diverged)
            outcomes.append((run, data, member, result))
    summaries: list[RunSummary | Exception] = []
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            summaries.append(outcome)
            continue
        run, data, member, result = outcome
        saved = [METRICS_FILE, MODEL_FILE] if run.spec.save_model else [METRICS_FILE]
        summaries.append(
            summarise(
                run.history,
                result,
                member.model,
                data.sizes(),
                **run.origin,
                data_cache=data.cache_generation,
                pool_caches=sorted(read_from - {data.cache_generation, None}),
                warnings=data.warnings(),
                files=written_files(run.out_dir, saved),
                finished=_now(),
            )
        )
    return summaries


def _splits_of(specs: list[RunSpec]) -> list[Splits]:
    """Each run's split of the data, with its task's labels (each split loaded once)."""
    loaded: dict[str, Splits] = {}
    splits = []
    for spec in specs:
        if repr(spec.data) not in loaded:
            loaded[repr(spec.data)] = load_dataset(spec.data)
        data = loaded[repr(spec.data)]
        splits.append(data.one_vs_all(spec.positive_class) if spec.task == "one_vs_all" else data)
    return splits


def _pack_data(specs: list[RunSpec], splits: list[Splits]) -> PackData:
    """What the pack of ``specs`` reads: their one split, or a pool of their splits of one data set."""
    if len({repr(spec.data) for spec in specs}) == 1:
        return PackData.sharing(splits)
    positions = [
        split_indices(spec.data_shape[0], spec.data.val_size, spec.data.train_limit, spec.data.split_seed)
        for spec in specs
    ]
    return PackData.pooling(splits, positions)


def _member(run: _Run, data: Splits, files: contextlib.ExitStack) -> Member:
    """``run`` as a member of a pack: its network (from its seed), its checkpoint if it resumes, and its
    ``metrics.csv`` (opened in ``files``) with the rows of the epochs before it."""
    spec, out_dir, log = run.spec, run.out_dir, run.log
    model, shuffle_rng, dropout_rng = seeded_start(spec, data.n_features, n_outputs(data.n_classes))
    log.info(
        "network %s, %s activation, %s output, %d parameters; %s, lr %g (%s schedule); BLAS threads: %d",
        model.layer_sizes,
        spec.activation,
        model.output.name,
        model.n_params,
        spec.method.optimizer,
        spec.method.lr,
        spec.method.lr_schedule,
        spec.blas_threads or 1,
    )
    columns = [*EPOCH_COLUMNS, *(diagnostic_columns(model) if spec.diagnostics else [])]
    checkpoints = Checkpointer(out_dir / CHECKPOINT_FILE, spec.fingerprint)
    resume, kept = checkpoints.load(), []
    if resume is not None:
        try:
            kept = read_epoch_rows(out_dir / METRICS_FILE, resume.epoch)
        except ValueError as exc:  # e.g. a disk that filled up mid-row: the checkpoint alone cannot resume
            log.warning("starting from epoch 1, not from the checkpoint: %s", exc)
            resume = None
    if resume is not None:
        within = f" (batch {resume.batch + 1})" if resume.batch else ""
        log.info("resuming %s from epoch %d%s", out_dir.name, resume.epoch + 1, within, extra=SWEEP_LINE)
    metrics = files.enter_context(MetricsCSV(out_dir / METRICS_FILE, columns, kept))
    run.history = list(metrics.kept)
    tracker = run.start_tracking(resume.epoch + 1 if resume is not None else 1)

    def record(row: dict) -> None:
        metrics.write(row)
        run.history.append(row)

    if tracker is not None:  # attached only where a tracker is asked for

        def record(row: dict, written: Callable[[dict], None] = record) -> None:
            written(row)
            tracker.epoch(row)

    return Member(
        model,
        spec.method,
        shuffle_rng,
        dropout_rng,
        spec.epochs,
        record,
        spec.diagnostics,
        checkpoints,
        resume,
        log,
    )


_disk_full: str | None = None  # what the last run of this process could not write for lack of space


def disk_full_in_last_run() -> str | None:
    """The one-line 'disk full' error of this process's last run, if writing its files failed for lack of space."""
    return _disk_full


def _record(out_dir: Path, summary: RunSummary, trace: str | None = None) -> None:
    """Write an unfinished run's summary (and traceback) if anything can still be written; else say so."""
    try:
        if trace is not None:
            (out_dir / ERROR_FILE).write_text(trace)
        write_json_atomic(out_dir / SUMMARY_FILE, summary.to_dict())
    except OSError as exc:
        (out_dir / ERROR_FILE).unlink(missing_ok=True)
        log.error("the run's status (%s) could not be recorded: %s", summary.status, exc)


def record_lost(out_dir: Path, error: str, config_fingerprint: str, config: dict[str, Any]) -> RunSummary | None:
    """Record, from outside, that the run in ``out_dir`` (configuration ``config``, its fingerprint as planned) died
    with its process (``error`` says how): status ``failed``; a rerun resumes it from its checkpoint. None once
    recorded.

    A finished run in ``out_dir`` is left as it is and its summary returned: the process died after the run had
    ended, or after finding it finished. A folder whose run another process holds now is not touched either
    (``BlockingIOError``): that run records its own outcome.
    """
    with run_lock(out_dir, wait=False):
        if (finished := read_finished(out_dir)) is not None:
            return finished
        (out_dir / ERROR_FILE).write_text(error + "\n")
        lost = RunSummary(
            status=RunStatus.failed, fingerprint=config_fingerprint, error=error, config=config, finished=_now()
        )
        write_json_atomic(out_dir / SUMMARY_FILE, lost.to_dict())
    return None


def execute(settings: Config, out_dir: Path) -> RunSummary:
    """Check ``settings``, train, and write ``metrics.csv`` and ``summary.json`` into ``out_dir``; the summary.

    A folder that already holds a finished run of the same configuration is left
    as it is (unless ``force``); if its files are not those its summary records, they are set aside
    (:func:`nnexp.results.files.set_aside`) and the run trains again. A folder holding a finished run of
    another configuration is not touched: :class:`ConfigError`. Any error is recorded in the folder, as status
    ``failed`` in ``summary.json`` and the traceback in ``error.txt``, then raised; a run stopped by
    a signal (:mod:`nnexp.training.interrupt`) is recorded as ``interrupted`` (its checkpoint kept) and
    :class:`Interrupted` raised. Time the process spends stopped (SIGSTOP ... SIGCONT) is not training time.
    The folder is locked meanwhile: a concurrent run of the same configuration waits.
    """
    (outcome,) = execute_pack([settings], [out_dir])
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def execute_pack(
    settings: Sequence[Config], out_dirs: Sequence[Path], logs: Sequence[logging.Logger] = ()
) -> list[RunSummary | Exception]:
    """Run each of ``settings`` in its folder as :func:`execute` runs one, those that can train together as one pack
    (:attr:`RunSpec.pack_key`, :func:`~nnexp.training.loop.train_pack`): the summary of each, or the error that
    ended it, recorded in its folder. One run's error (its settings, another configuration's result in its folder,
    its files) ends only that run. A signal stops them all: each is recorded as ``interrupted`` and
    :class:`Interrupted` raised. The folders are locked meanwhile, in the order of their paths (two packs never wait
    for each other). ``logs``: each run's logger (default: ``nnexp.run``).
    """
    # a log file that cannot be written (a full disk) must not print a traceback for every line: the run's
    # status and the sweep's one line say what happened
    logging.raiseExceptions = False
    global _disk_full
    _disk_full = None
    logs = list(logs) or [log] * len(settings)
    with contextlib.ExitStack() as locks:
        for out_dir in sorted({out_dir.resolve() for out_dir in out_dirs}):
            locks.enter_context(run_lock(out_dir))
        outcomes: list[RunSummary | Exception | None] = [None] * len(settings)
        runs: list[tuple[int, _Run]] = []
        for index, (one, out_dir, run_log) in enumerate(zip(settings, out_dirs, logs)):
            try:
                started = _start(one, out_dir, run_log)
            except ConfigError as exc:  # its folder holds another configuration's result: nothing was touched
                outcomes[index] = exc
                continue
            if isinstance(started, RunSummary):
                outcomes[index] = started
                continue
            try:
                started.check()
            except Exception as exc:
                outcomes[index] = started.failed(exc)
                continue
            runs.append((index, started))
        if runs:
            indices, ready = zip(*runs)
            for index, outcome in zip(indices, _train_and_record(list(ready))):
                outcomes[index] = outcome
    return outcomes


def _train_and_record(runs: list[_Run]) -> list[RunSummary | Exception]:
    """Train the checked ``runs`` and record how each ended: its summary, or its error."""
    try:
        with stop_on_signals(), count_stopped_time():
            trained = _train_runs(runs)
    except Interrupted as exc:
        for run in runs:
            run.interrupted(exc)
        raise
    except Exception as exc:  # in the code the runs share: it ends every one
        return [run.failed(exc) for run in runs]
    outcomes: list[RunSummary | Exception] = []
    for run, summary in zip(runs, trained):
        if isinstance(summary, Exception):
            outcomes.append(run.failed(summary))
            continue
        try:
            outcomes.append(run.finished(summary))
        except Exception as exc:
            outcomes.append(run.failed(exc))
    return outcomes


def _older_definition(previous: RunSummary) -> str:
    """What a finished run's summary says of an older meaning of its metrics ('' when it has this one)."""
    definition = metrics_definition_of(previous.metrics_definition)
    if definition == METRICS_DEFINITION:
        return ""
    return f"; that run's metrics are of an older definition, {definition}, this nnexp's is {METRICS_DEFINITION}"


def _clear_the_way(out_dir: Path, config_fingerprint: str, log: logging.Logger) -> None:
    """Before a run writes into ``out_dir``: refuse a finished run of another configuration there (ConfigError,
    nothing touched), and set aside the files of a finished run of this one that are not what its summary records."""
    previous = read_finished(out_dir)
    if previous is None:
        return
    if previous.fingerprint != config_fingerprint:
        error = (
            f"{out_dir} holds a finished run of another configuration (fingerprint {previous.fingerprint}, "
            f"this one {config_fingerprint}{_older_definition(previous)}); nothing was overwritten: give this run "
            "another folder or move that run's files away"
        )
        log.error("error: %s", error)
        raise ConfigError(error)
    reason = damage(out_dir, previous)
    if reason is not None:
        aside = set_aside(out_dir, RUN_FILES)
        log.warning("the finished run is damaged (%s): its files are set aside in %s/, training again", reason, aside)


class _Run:
    """One run in its locked folder, made ready to train (:func:`_start`), until its summary is written."""

    def __init__(self, settings: Config, spec: RunSpec | None, out_dir: Path, origin: dict, log: logging.Logger):
        self.settings, self.spec, self.out_dir, self.origin, self.log = settings, spec, out_dir, origin, log
        self.history: list[dict] = []  # its epochs' rows, the epochs before a checkpoint included
        self.tracker: TrackedRun | None = None  # its log in the tracker settings.tracker names, while it trains

    def start_tracking(self, first_epoch: int) -> TrackedRun | None:
        """Its log in the tracker its settings name, from epoch ``first_epoch`` on (None: tracker=none)."""
        if self.settings.tracker.name is TrackerName.none:
            return None
        from nnexp.tracking.location import locate
        from nnexp.tracking.opening import TrackedRun
        from nnexp.tracking.params import run_params

        location = locate(self.settings.tracker, self.out_dir)
        fingerprint, params = self.origin["fingerprint"], run_params(result_settings(self.spec.config))
        self.tracker = TrackedRun(location, self.out_dir.name, fingerprint, params, first_epoch, self.log)
        return self.tracker

    def _end_tracking(self, summary: RunSummary) -> None:
        """Its tracker told how it ended (``summary``, as written to its folder)."""
        if self.tracker is not None:
            self.tracker.end(summary, self.out_dir)
            self.tracker = None

    def check(self) -> None:
        """Check its settings (an error is raised) and that it fits in the memory available."""
        self.spec = self.spec or RunSpec.from_settings(self.settings)
        estimate = estimate_memory(self.spec)
        if estimate is not None:
            check_fits({"the run": estimate}, 1, available_memory())

    def finished(self, summary: RunSummary) -> RunSummary:
        """Write its summary: it is done (its checkpoint goes); the summary."""
        write_json_atomic(self.out_dir / SUMMARY_FILE, summary.to_dict())
        (self.out_dir / CHECKPOINT_FILE).unlink(missing_ok=True)  # finished: nothing to resume
        self._end_tracking(summary)
        self.log.info(
            "%s after %d epochs: test accuracy %.2f%%, %.1f s training",
            summary.status.value,
            summary.epochs_completed,
            100 * summary.test_acc,
            summary.train_seconds,
        )
        return summary

    def interrupted(self, exc: Interrupted) -> None:
        """Record that a signal stopped it (its checkpoint kept)."""
        self.log.warning("%s", exc)
        interrupted = RunSummary(status=RunStatus.interrupted, error=str(exc), **self.origin, finished=_now())
        _record(self.out_dir, interrupted)
        self._end_tracking(interrupted)

    def failed(self, exc: Exception) -> Exception:
        """Record that ``exc`` ended it: status ``failed``, the one-line error, the traceback in ``error.txt``."""
        global _disk_full
        if is_disk_full(exc):
            error = _disk_full = disk_full_message(exc, self.out_dir)
        else:
            error = str(exc) if isinstance(exc, NnexpError) else f"{type(exc).__name__}: {exc}"
        expected = isinstance(exc, NnexpError) or is_disk_full(exc)  # the message says it all
        self.log.error("error: %s" if expected else "run failed: %s", error, exc_info=None if expected else exc)
        failed = RunSummary(status=RunStatus.failed, error=error, **self.origin, finished=_now())
        _record(self.out_dir, failed, "".join(traceback.format_exception(exc)))
        self._end_tracking(failed)
        return exc


def _start(settings: Config, out_dir: Path, log: logging.Logger) -> RunSummary | _Run:
    """In its locked folder, before training: the summary of a finished run of this configuration, which need not
    train again, or the run, its folder made ready; :class:`ConfigError` when the folder holds another
    configuration's result (nothing touched)."""
    remove_leftovers(out_dir)  # what killed writers of its files left, before anything is read
    try:
        spec: RunSpec | None = RunSpec.from_settings(settings)
    except Exception:  # raised again by _Run.check, where a failure is recorded
        spec = None
    record = spec.config if spec else config_record(settings)
    identity = spec.data_identity if spec else data_identity(settings.data)
    config_fingerprint = spec.fingerprint if spec else fingerprint(record, identity)
    previous = finished_summary(out_dir, config_fingerprint, damaged_caches(settings.data))
    if previous is not None and not settings.force:
        log.info("skipped: finished already with this configuration (%s); force=true reruns it", previous.status)
        return previous
    _clear_the_way(out_dir, config_fingerprint, log)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in (SUMMARY_FILE, ERROR_FILE, MODEL_FILE):  # until this attempt finishes, the run counts as unfinished
        (out_dir / stale).unlink(missing_ok=True)
    if settings.force:  # from scratch, not from where an earlier attempt stopped
        (out_dir / CHECKPOINT_FILE).unlink(missing_ok=True)
    origin = {
        "fingerprint": config_fingerprint,
        "metrics_definition": METRICS_DEFINITION,
        "started": _now(),
        "host": platform.node(),
        "versions": {"nnexp": nnexp.__version__, "numpy": np.__version__, "python": sys.version.split()[0]},
        "data_identity": identity.to_dict() if identity else {},
        "config": record,
    }
    return _Run(settings, spec, out_dir, origin, log)
