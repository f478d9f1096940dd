"""Entry point of one training run: ``python -m nnexp.run [overrides]`` (add ``-m`` for a sweep).

The command line is checked first (:mod:`nnexp.command_line`), then Hydra runs the task,
:func:`nnexp.task.main`. ``--help`` is answered here, without importing the trainer, the
launcher or the report: the page of ``conf/hydra/help/nnexp.yaml``, as Hydra prints it; so is ``--version``
(nnexp's, where Hydra's parser would print Hydra's).
"""

from __future__ import annotations

import os
import signal
import string
import sys

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException

from nnexp.command_line import (
    COMPOSE_OPTIONS,
    CONFIG_NAME,
    MULTIRUN_FLAGS,
    check_overrides,
    first_values,
    register_configs,
    with_grid_sweeper,
)
from nnexp.console import QUIET_FLAGS, set_quiet, version_line
from nnexp.errors import ConfigError
from nnexp.resources import CONFIG_DIR

HELP_FLAGS = ("--help", "-h")
VERSION_FLAG = "--version"  # Hydra's own (its version) answered here: nnexp's
STOPPED_OUTSIDE_RUNS = "stopped by SIGINT while no run was running (starting, planning or drawing the report)"


def help_page(args: list[str]) -> str | None:
    """The page ``--help`` prints for the command line ``args`` (without ``--help``): the help template of the config
    they compose (each sweep at its first value), as Hydra prints it. None when Hydra must answer: other options
    (``--cfg``, ``-cn`` ...), a line Hydra cannot parse, or a template with Hydra's own placeholders
    (``$FLAGS_HELP`` ...). A bad key or value raises :class:`ConfigError` (one line)."""
    try:
        overrides = first_values(args)
    except HydraException:
        return None
    if overrides is None:
        return None
    check_overrides(args)
    with initialize_config_dir(config_dir=str(CONFIG_DIR), **COMPOSE_OPTIONS):
        config = compose(config_name=CONFIG_NAME, overrides=overrides, return_hydra_config=True)
    template = string.Template(config.hydra.help.template)
    return None if template.get_identifiers() else template.substitute()


def _let_threads_end(seconds: float) -> None:
    """Wait up to ``seconds`` for this process's other threads to end. Stopped by a signal, joblib's worker pool is
    torn down by threads that release its semaphores as they end; an interpreter that exits under one leaves its
    semaphore to joblib's resource tracker, which then warns of a leak after the stop line."""
    import threading
    import time

    deadline = time.monotonic() + seconds
    for thread in threading.enumerate():
        if thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))


THREADS_END_SECONDS = 5.0


def _stdout_closed() -> None:
    """The output went to a pager or ``head`` that closed early: not an error of ours, and nothing more to say."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def cli() -> None:
    """``python -m nnexp.run`` / ``nnexp-run``: ``--version``, ``--help``; else the command line checked (one line and
    exit 2 for a bad value or key, in a single run as in a sweep), then Hydra's :func:`nnexp.task.main`. ``-q`` /
    ``--quiet``: only warnings and errors (on stderr)."""
    if VERSION_FLAG in sys.argv[1:]:
        print(version_line())
        return
    args = [arg for arg in sys.argv[1:] if arg not in QUIET_FLAGS]
    if len(args) < len(sys.argv) - 1:
        set_quiet()
        sys.argv[1:] = args  # Hydra reads the command line from sys.argv
    register_configs()
    try:
        if any(arg in HELP_FLAGS for arg in args):
            page = help_page([arg for arg in args if arg not in HELP_FLAGS])
            if page is not None:
                print(page)
                return
        else:
            config = check_overrides(args, hydra_config=True)
            if config is not None and any(arg in MULTIRUN_FLAGS for arg in args):
                from nnexp.sweep.callback import start_sweep_workers

                start_sweep_workers(config)  # while Hydra composes the sweep again and plans it
    except ConfigError as exc:
        print(f"error: {exc} (no run was started)", file=sys.stderr)
        sys.exit(2)
    except BrokenPipeError:
        _stdout_closed()
        return
    from nnexp.task import main

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # started with '&' by a shell: a SIGINT comes from kill
        signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.argv[1:] = with_grid_sweeper(args)
    try:
        main()
    except BrokenPipeError:
        _stdout_closed()
    except KeyboardInterrupt:  # SIGINT while no run was running (a run's own stop is handled where it runs)
        _let_threads_end(THREADS_END_SECONDS)
        print(f"{STOPPED_OUTSIDE_RUNS}; rerun the same command to resume (finished runs are skipped)", file=sys.stderr)
        sys.exit(128 + signal.SIGINT)


if __name__ == "__main__":
    cli()
