"""``nnexp`` (``python -m nnexp``): which nnexp this is (``--version``) and its commands (``--help``)."""

from __future__ import annotations

import argparse
import sys

from nnexp.console import version_line

# the console scripts of pyproject.toml (tests/test_command_line.py checks the list is theirs)
COMMANDS = {
    "nnexp-run": "a run, or a sweep with -m (python -m nnexp.run); --help lists every setting",
    "nnexp-report": "the report of a sweep folder, or of several side by side (python -m nnexp.report)",
    "nnexp-predict": "evaluate a saved run, or classify images with it (python -m nnexp.predict)",
    "nnexp-reproduce": "every preset of the write-ups, then the scoreboard (python -m nnexp.reproduce)",
    "nnexp-export": "a finished sweep logged to TensorBoard or MLflow (python -m nnexp.export)",
}


def main(argv: list[str] | None = None) -> int:
    """Print the version (``--version``), else the commands; exit status 2 (argparse's) for anything else."""
    width = max(map(len, COMMANDS))
    commands = "\n".join(f"  {name:{width}}  {text}" for name, text in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="nnexp",
        description=f"{version_line()}: neural networks from scratch on MNIST, as reproducible sweeps with reports.",
        epilog=f"commands (each takes --help and --version):\n{commands}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=version_line())
    _, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}; the commands are {', '.join(COMMANDS)}")
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
