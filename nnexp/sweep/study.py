"""A search's Optuna study after a search that ended before its trials did (kill -9, a lost machine, SIGTERM).

Hydra's Optuna sweeper asks its study for trials and tells it how each ended; a search that dies meanwhile
leaves the trials it was running ``RUNNING`` for ever. Before a search starts (:func:`resume_study`), if no other
search of the study runs, those trials are marked failed, with why in their ``fail_reason`` user attribute, and
their settings are enqueued: the search tries them first, and their runs resume from their checkpoints.

Every search of a study in an SQLite file holds the lock file beside it (``<file>.search.lock``) shared while it
runs; the kernel releases it when the process ends, however it ends. Whoever gets it exclusively knows that no
other search of the study is running, whatever its sweep folder. A study on a database server may have searches
on other machines, which no lock here sees: its running trials are left as they are.
"""

from __future__ import annotations

import fcntl
import logging
import warnings
from pathlib import Path
from typing import TextIO

from omegaconf import DictConfig

log = logging.getLogger(__name__)

OPTUNA_SWEEPER = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
SEARCH_LOCK_SUFFIX = ".search.lock"
ABANDONED = "its search ended before it did (killed, or stopped by a signal); its settings are tried again"

_running: TextIO | None = None  # this process's shared hold on its search's lock, for as long as it lives


def optuna_lines_to_console(config: DictConfig) -> None:
    """(Before an Optuna search) Optuna's lines through the console's own handlers, as bare diagnostics on stderr that
    ``-q`` silences, instead of Optuna's handler, which colours them even in a file or a pipe."""
    if config.hydra.sweeper.get("_target_") != OPTUNA_SWEEPER:
        return
    import optuna

    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()


def resume_study(config: DictConfig) -> None:
    """(Before an Optuna search with a stored study starts) fail and enqueue again the trials of searches that ended
    before their trials did, unless another search of the study is running; then hold the lock as a running
    search."""
    global _running
    sweeper = config.hydra.sweeper
    if sweeper.get("_target_") != OPTUNA_SWEEPER or not sweeper.get("storage"):
        return
    lock = study_lock(str(sweeper.storage))
    if lock is None:
        return
    if _running is not None:  # an earlier search of this process has ended
        _running.close()
    lock.parent.mkdir(parents=True, exist_ok=True)
    _running = open(lock, "a")  # noqa: SIM115 (held until the process ends)
    try:
        fcntl.flock(_running, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # another search runs: its trials are running indeed
        pass
    else:
        retry_abandoned_trials(str(sweeper.storage), str(sweeper.study_name))
    fcntl.flock(_running, fcntl.LOCK_SH)


def study_lock(storage_url: str) -> Path | None:
    """The lock file of the searches of a study stored in an SQLite file (beside it); None for other storages."""
    from sqlalchemy.engine import make_url

    url = make_url(storage_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).with_name(Path(url.database).name + SEARCH_LOCK_SUFFIX)


def retry_abandoned_trials(storage_url: str, study_name: str) -> int:
    """Mark the study's running trials failed (their ``fail_reason``: :data:`ABANDONED`) and enqueue their settings;
    how many there were. Only for a study no process is running trials of."""
    import optuna
    from optuna.trial import TrialState

    storage = optuna.storages.RDBStorage(storage_url)
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:  # a new study
        return 0
    study = optuna.load_study(study_name=study_name, storage=storage)
    abandoned = storage.get_all_trials(study_id, states=(TrialState.RUNNING,))
    for trial in abandoned:
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_user_attr(trial_id, "fail_reason", ABANDONED)
        storage.set_trial_state(trial_id, TrialState.FAIL)
        with warnings.catch_warnings():  # experimental in optuna 2, the version Hydra's Optuna sweeper needs
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.enqueue_trial(trial.params)
    if abandoned:
        numbers = ", ".join(str(trial.number) for trial in abandoned)
        log.warning(
            "%d trials of a search that ended before they did (%s) are failed in the study %s; their settings are"
            " tried first, resuming their runs",
            len(abandoned),
            numbers,
            study_name,
        )
    return len(abandoned)
