"""Every published value in ``experiments/`` names where in which write-up it comes from, in the write-up's words."""

from __future__ import annotations

import re
from decimal import Decimal

import pandas as pd
import pytest

from tests.conftest import ROOT

TABLES = sorted((ROOT / "experiments").glob("*.csv"))
SEEDS = ROOT.parent / "shared" / "seeds"  # the write-ups, beside the project (absent from a bare checkout)
SOURCES = ("source_file", "where", "quote")
NOT_COMPARED = "## Published but not compared"  # experiments/README.md: claims no table holds, quoted


def _normal(text: str) -> str:
    """``text`` with every run of whitespace as one space."""
    return " ".join(text.split())


def _written(value: str, unit: str) -> list[str]:
    """How the write-up may print a value: as written here, or (a percentage) as the fraction with the same digits,
    '12.34' → '0.1234'."""
    forms = [value]
    if unit == "%":
        forms.append(str(Decimal(value).scaleb(-2)))
    return forms


def _rows() -> list[tuple[str, int, pd.Series]]:
    return [
        (path.name, i, row)
        for path in TABLES
        for i, row in pd.read_csv(path, comment="#", dtype=str, keep_default_na=False).iterrows()
    ]


def test_there_are_published_tables() -> None:
    assert TABLES


@pytest.mark.parametrize(("table", "line", "row"), _rows(), ids=lambda x: x if isinstance(x, str) else None)
def test_every_published_value_names_its_source_and_its_quote_holds_the_value(
    table: str, line: int, row: pd.Series
) -> None:
    for column in SOURCES:
        assert row.get(column, "").strip(), f"{table}, value {line + 1}: no {column}"
    assert re.fullmatch(r"\d{3}_[0-9a-f]+\.txt", row["source_file"]), row["source_file"]
    assert row["source_file"].startswith(row["source"]), f"{table}: source {row['source']} vs {row['source_file']}"
    quote = _normal(row["quote"])
    assert any(re.search(rf"(?<![\d.]){re.escape(f)}(?![\d])", quote) for f in _written(row["value"], row["unit"])), (
        f"{table}, value {line + 1}: {row['value']} is not in its quote {quote!r}"
    )
    if row.get("epoch", ""):
        assert re.search(rf"\bepoch {row['epoch']}\b", quote), f"{table}: epoch {row['epoch']} is not in its quote"


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the write-ups (../shared/seeds) are not beside this checkout")
@pytest.mark.parametrize(("table", "line", "row"), _rows(), ids=lambda x: x if isinstance(x, str) else None)
def test_every_quote_is_in_its_write_up(table: str, line: int, row: pd.Series) -> None:
    path = SEEDS / row["source_file"]
    assert path.is_file(), f"{table}, value {line + 1}: no write-up {path}"
    assert _normal(row["quote"]) in _normal(path.read_text(encoding="utf-8")), (
        f"{table}, value {line + 1}: {row['quote']!r} is not in {path.name}"
    )


def _claims() -> list[tuple[str, str]]:
    """(write-up number, quote) of each row of the README's table of claims not compared."""
    section = (ROOT / "experiments" / "README.md").read_text(encoding="utf-8").split(NOT_COMPARED)[1]
    rows = [line.split(" | ") for line in section.splitlines() if re.match(r"\| \d{3} \|", line)]
    return [(row[0].strip("| "), row[2].strip('"')) for row in rows]


def test_the_claims_not_compared_are_listed() -> None:
    assert {source for source, _ in _claims()} == {"000", "003"}


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the write-ups (../shared/seeds) are not beside this checkout")
@pytest.mark.parametrize(("source", "quote"), _claims())
def test_every_claim_not_compared_is_quoted_from_its_write_up(source: str, quote: str) -> None:
    (path,) = SEEDS.glob(f"{source}_*.txt")
    assert _normal(quote) in _normal(path.read_text(encoding="utf-8")), (path.name, quote)
