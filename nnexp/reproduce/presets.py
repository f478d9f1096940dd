"""The experiment presets (``conf/experiment/*.yaml``) and the published tables each compares with."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from nnexp.config import ReportConfig
from nnexp.resources import CONFIG_DIR, PUBLISHED_DIR, published_table

PRESET_DIR = CONFIG_DIR / "experiment"


def presets() -> list[str]:
    """Every preset's name, sorted (write-up presets ``w...``, ablations ``a...``, methods ``m...``)."""
    return sorted(path.stem for path in PRESET_DIR.glob("*.yaml"))


def _report_option(preset: str, name: str) -> list:
    """A list option of the preset's report (``report.<name>``), empty when unset."""
    node = OmegaConf.load(PRESET_DIR / f"{preset}.yaml")
    return list(OmegaConf.select(node, f"report.{name}", default=[]) or [])


def published_by(preset: str) -> list[Path]:
    """The published tables the preset's report compares with (``report.published``)."""
    return [published_table(path) for path in _report_option(preset, "published")]


def report_metrics(preset: str) -> list[str]:
    """The metrics the preset's report tabulates (``report.metrics``, else the report's default)."""
    return _report_option(preset, "metrics") or ReportConfig().metrics


def published_tables() -> list[Path]:
    """Every published table of ``experiments/`` (each as :func:`~nnexp.resources.published_table` finds it)."""
    return [published_table(Path("experiments", path.name)) for path in sorted(PUBLISHED_DIR.glob("*.csv"))]


def preset_of(table: Path, among: list[str]) -> str | None:
    """The preset that reproduces ``table``: the write-up preset (``w...``) publishing it, else any that does."""
    publishing = [preset for preset in among if table.name in {path.name for path in published_by(preset)}]
    return next((p for p in publishing if p.startswith("w")), publishing[0] if publishing else None)
