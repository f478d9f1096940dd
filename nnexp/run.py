"""Entry point of one training run: ``python -m nnexp.run [overrides]`` (add ``-m`` for a sweep).

The command line is checked first (:mod:`nnexp.command_line`), then Hydra runs the task,
:func:`nnexp.task.main`. ``--help`` is answered here, without importing the trainer, the
launcher or the report: the page of ``conf/hydra/help/nnexp.yaml``, as Hydra prints it.
"""

from __future__ import annotations

import os
import string
import sys

from hydra import compose, initialize_config_dir

from nnexp.command_line import CONFIG_NAME, MULTIRUN_FLAGS, check_overrides, register_configs
from nnexp.console import QUIET_FLAGS, set_quiet
from nnexp.errors import ConfigError
from nnexp.resources import CONFIG_DIR

HELP_FLAGS = ("--help", "-h")


def help_page(args: list[str]) -> str:
    """The page ``--help`` prints: the help template of the config ``args`` compose (Hydra's ``$$`` escapes;
    :func:`register_configs` first)."""
    overrides = [arg for arg in args if arg not in HELP_FLAGS and arg not in MULTIRUN_FLAGS]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        config = compose(config_name=CONFIG_NAME, overrides=overrides, return_hydra_config=True)
    return string.Template(config.hydra.help.template).substitute()


def cli() -> None:
    """``python -m nnexp.run`` / ``nnexp-run``: ``--help``; else the command line checked (one line and exit 2 for a
    bad value or key, in a single run as in a sweep), then Hydra's :func:`nnexp.task.main`. ``-q`` / ``--quiet``:
    only warnings and errors (on stderr)."""
    args = [arg for arg in sys.argv[1:] if arg not in QUIET_FLAGS]
    if len(args) < len(sys.argv) - 1:
        set_quiet()
        sys.argv[1:] = args  # Hydra reads the command line from sys.argv
    register_configs()
    try:
        if any(arg in HELP_FLAGS for arg in args) and not any(arg.startswith("--hydra") for arg in args):
            print(help_page(args))
            return
        check_overrides(args)
    except ConfigError as exc:
        print(f"error: {exc} (no run was started)", file=sys.stderr)
        sys.exit(2)
    except BrokenPipeError:  # the output went to a pager or `head` that closed early: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    from nnexp.task import main

    try:
        main()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    cli()
