"""Where results come from: the code's git revision, package versions, host and command."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
from importlib import metadata
from pathlib import Path

from nnexp.command_line import GRID_SWEEPER_CHOICE

PACKAGES = ("nnexp", "numpy", "pandas", "hydra-core", "hydra-joblib-launcher", "matplotlib", "scikit-learn")


# What decides results, relative to the package folder: its code, the Hydra configs, the dependencies.
# Generated files (reports/, README) changing does not make results come from different code.
CODE_PATHS = (".", "../conf", "../pyproject.toml")


def git_revision(folder: Path = Path(__file__).parent) -> str:
    """The short git commit of ``folder``'s checkout, marked when its code or configs have uncommitted changes
    ("unknown" outside git)."""

    def git(*command: str) -> str:
        env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # read-only: never take the index lock
        try:
            return subprocess.run(
                ["git", *command], cwd=folder, env=env, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS)
    return commit + (" with uncommitted changes" if changed else "")


def versions() -> dict[str, str]:
    """Installed versions of Python and the packages results depend on."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def sweep_command(hydra_overrides: list[str], task_overrides: list[str]) -> str:
    """The command line that reproduces a sweep from its overrides (``-m`` stands for Hydra's own ``hydra.mode``,
    and implies the grid sweeper ``nnexp.run`` chooses)."""
    hydra_overrides = [o for o in hydra_overrides if not o.startswith("hydra.mode=") and o != GRID_SWEEPER_CHOICE]
    return shlex.join(["python", "-m", "nnexp.run", "-m", *hydra_overrides, *task_overrides])


def provenance(hydra_overrides: list[str], task_overrides: list[str], started: str) -> dict:
    """Everything a reader needs to know where a sweep's results come from."""
    return {
        "command": sweep_command(hydra_overrides, task_overrides),
        "started": started,
        "git": git_revision(),
        "host": platform.node(),
        "versions": versions(),
    }
