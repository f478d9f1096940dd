"""What the launcher needs to survive a dead worker and to stop on a signal.

Every job runs through :func:`run_registered`: while it runs, a file ``<sweep>/.workers.<sweep pid>/<pid>``
says which job that worker process runs. :class:`DeathWatch`, a thread of the sweep's process,
holds a pidfd of each registered worker and notes, in the order the kernel reports them, the
workers that end while running a job. When the OOM killer (or anybody) kills a worker, joblib
kills the other workers too (SIGKILL, from a thread of this process) and fails the whole batch;
the first death noted names the job that was killed, and the launcher runs the others again (they
resume from their checkpoints). On a loaded machine the kernel can report the killed worker and
those joblib killed after it in one poll: the workers this process signalled itself, which an audit
hook on ``os.kill`` (:func:`sys.addaudithook`) notes, are not the one killed from outside.

A file ``stop`` in the registry tells the workers to start no new job (a stop signal came).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import select
import shutil
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, run_job, setup_globals
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

REGISTRY = ".workers"
STOP_FILE = "stop"
WATCHED = "watched"  # <registry>/watched/<pid>: the death watch holds a pidfd of that worker
WATCH_WAIT_SECONDS = 5.0


def execute_job(
    number: int,
    overrides: Sequence[str],
    hydra_context: HydraContext,
    config: DictConfig,
    task_function: TaskFunction,
    singleton_state: dict[Any, Any],
) -> JobReturn:
    """Run job ``number`` of the sweep in this (worker) process, as Hydra's launchers do, through Hydra's public
    API: its config composed for ``overrides``, then :func:`hydra.core.utils.run_job` in its sweep sub-folder."""
    setup_globals()
    Singleton.set_state(singleton_state)
    job = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(job):
        job.hydra.job.id = f"{job.hydra.job.name}_{number}"
        job.hydra.job.num = number
    HydraConfig.instance().set_config(job)
    return run_job(
        hydra_context=hydra_context,
        config=job,
        task_function=task_function,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


def registry_of(sweep_dir: Path) -> Path:
    """The registry of this sweep's process (two sweeps can run into one folder at once)."""
    return sweep_dir / f"{REGISTRY}.{os.getpid()}"


def reset_registry(registry: Path) -> None:
    """An empty registry (entries of dead workers from an earlier round removed)."""
    shutil.rmtree(registry, ignore_errors=True)
    (registry / WATCHED).mkdir(parents=True)


def run_registered(
    index: int,
    overrides: Sequence[str],
    hydra_context: HydraContext,
    config: DictConfig,
    task_function: TaskFunction,
    singleton_state: dict[Any, Any],
    registry: Path,
    watched: bool,
) -> tuple[int, Any, str | None]:
    """(In a worker) run job ``index`` as Hydra's joblib launcher does, registered as this process's job.

    Returns ``(index, Hydra's job result, None)``; the result is None when the job did not run (the sweep is
    stopping, or the disk is full), and the third item the one-line error when a file could not be written
    for lack of space. With ``watched``, the job starts once the death watch holds this process.
    """
    from nnexp.results.files import disk_full_message, is_disk_full  # the run's code, loaded in the worker
    from nnexp.training.interrupt import stop_on_signals
    from nnexp.training.job import disk_full_in_last_run

    if (registry / STOP_FILE).exists():
        return index, None, None
    entry = registry / str(os.getpid())
    try:
        # once registered, the sweep's stop signal stops the run cleanly, even before its training starts
        with stop_on_signals():
            entry.write_text(str(index))
            deadline = time.monotonic() + WATCH_WAIT_SECONDS
            while watched and not (registry / WATCHED / entry.name).exists() and time.monotonic() < deadline:
                time.sleep(0.005)
            result = execute_job(index, overrides, hydra_context, config, task_function, singleton_state)
    except OSError as exc:  # Hydra's own files of the run (its folder, .hydra/*.yaml), or the registry
        if not is_disk_full(exc):
            raise
        return index, None, disk_full_message(exc, registry.parent)
    finally:
        entry.unlink(missing_ok=True)
    return index, result, disk_full_in_last_run()


def running_jobs(registry: Path) -> dict[int, int]:
    """Job index by worker pid, of the jobs registered as running."""
    jobs = {}
    for entry in registry.glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError):
            jobs[int(entry.name)] = int(entry.read_text())
    return jobs


_signalled: dict[int, float] = {}  # pid -> when this process last signalled it alive (os.kill), once a watch started


def _note_signal(event: str, args: tuple[Any, ...]) -> None:
    """(Audit hook) note a live process that this process sends a signal to (``os.kill(pid, sig)``, sig not 0);
    not one that has ended already (joblib signals the worker whose death it saw too)."""
    if event == "os.kill" and args[1] != 0 and _alive(args[0]):
        _signalled[args[0]] = time.monotonic()


PF_EXITING = 0x4  # the kernel's flag of a process that is ending (/proc/<pid>/stat, field 9)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs: neither ending (a SIGKILL begun), a zombie nor gone; from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0] not in ("Z", "X") and not int(fields[6]) & PF_EXITING
    except (OSError, IndexError, ValueError):
        return False


class DeathWatch(threading.Thread):
    """Notes the jobs whose worker process ended while running them, in the order the kernel reports it; a worker
    this process signalled itself since the watch began (joblib ending the others) is not counted."""

    POLL_SECONDS = 0.05
    _auditing = False  # whether this process notes its os.kill calls (an audit hook cannot be removed: added once)

    def __init__(self, registry: Path) -> None:
        super().__init__(name="nnexp-death-watch", daemon=True)
        self.registry = registry
        self.deaths: list[list[int]] = []  # job indices, by the poll that saw their worker end, first first
        self._stop_event = threading.Event()
        if not DeathWatch._auditing:
            sys.addaudithook(_note_signal)
            DeathWatch._auditing = True
        self._since = time.monotonic()
        self._awaited_until = -math.inf  # once stopped after a reported death: until when to wait to see it

    def run(self) -> None:
        poller = select.poll()
        watched: dict[int, int] = {}  # pidfd -> pid
        opened: set[int] = set()
        while not self._stop_event.is_set() or (not self.deaths and time.monotonic() < self._awaited_until):
            for pid in running_jobs(self.registry):
                if pid not in opened:
                    opened.add(pid)
                    try:
                        fd = os.pidfd_open(pid)
                    except ProcessLookupError:  # ended before it could be watched (it had not started its job)
                        self._note_deaths([pid])
                        continue
                    except OSError:  # no pidfds here (old kernel, sandbox): deaths cannot be attributed
                        (self.registry / WATCHED / str(pid)).touch()
                        continue
                    watched[fd] = pid
                    poller.register(fd, select.POLLIN)
                    (self.registry / WATCHED / str(pid)).touch()
            ended = []
            for fd, _ in poller.poll(int(self.POLL_SECONDS * 1000)):
                ended.append(watched.pop(fd))
                poller.unregister(fd)
                os.close(fd)
            self._note_deaths(ended)
        for fd in watched:
            os.close(fd)

    def _note_deaths(self, pids: list[int]) -> None:
        jobs = running_jobs(self.registry)  # a killed worker cannot remove its entry
        if found := [jobs[pid] for pid in pids if pid in jobs and _signalled.get(pid, -math.inf) < self._since]:
            self.deaths.append(found)

    def stop(self, death_reported: bool = False) -> int | None:
        """Stop watching; the job whose worker died first, None when no death was seen alone. ``death_reported``
        (joblib said a worker ended): first wait, up to :data:`WATCH_WAIT_SECONDS`, for the kernel to report an end,
        which comes once every thread of the process has ended (later than joblib sees it on a loaded machine)."""
        if death_reported and not self._stop_event.is_set():
            self._awaited_until = time.monotonic() + WATCH_WAIT_SECONDS
        self._stop_event.set()
        self.join()
        first = self.deaths[0] if self.deaths else []
        return first[0] if len(first) == 1 else None


def killed_by(error: BaseException) -> str:
    """'signal 9' from joblib's "The exit codes of the workers are {SIGKILL(-9)}"; 'a signal' if it says none."""
    found = re.search(r"SIG\w+\((-\d+)\)", str(error))
    return f"signal {-int(found.group(1))}" if found else "a signal"
