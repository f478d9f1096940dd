"""The folders installed with the code: the Hydra configs (``conf/``) and the published tables (``experiments/``).

Both stay at the top of the source tree; a plain install puts them inside the package, as ``nnexp/conf`` and
``nnexp/experiments`` (pyproject.toml: ``package-dir``). An editable install or a source checkout uses them
where they are.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def shipped(name: str) -> Path:
    """The folder ``name`` installed inside the package, else (source checkout) the one beside the package."""
    installed = PACKAGE / name
    return installed if installed.is_dir() else PACKAGE.parent / name


CONFIG_DIR = shipped("conf")
PUBLISHED_DIR = shipped("experiments")


def published_table(name: str | Path) -> Path:
    """The published table ``name`` (``experiments/000_table1_test_accuracy.csv``): that file relative to the
    current directory if it exists, else the installed copy of ``experiments/``."""
    path = Path(name)
    if path.exists() or path.is_absolute() or path.parent != Path("experiments"):
        return path
    return PUBLISHED_DIR / path.name
