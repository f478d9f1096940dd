"""No command changes a file under version control: a preset's sweep and its report, run in a fresh checkout."""

from __future__ import annotations

import subprocess
import sys

import pytest

import nnexp
from tests.conftest import ROOT

PRESET = ["+experiment=w000_tables", "data=digits", "epochs=1", "seed=0", "hidden=32"]


def _python(args: list[str], cwd) -> subprocess.CompletedProcess:
    """``python -P ARGS`` in ``cwd``: -P keeps the current folder off the import path, so the installed nnexp runs
    (the code under test), not the checkout's copy."""
    return subprocess.run([sys.executable, "-P", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_a_preset_and_its_report_leave_a_checkout_unchanged(tmp_path) -> None:
    checkout = tmp_path / "checkout"
    cloned = subprocess.run(["git", "clone", "--quiet", str(ROOT), str(checkout)], capture_output=True, text=True)
    if cloned.returncode != 0:
        pytest.skip(f"the project folder cannot be cloned (not a git checkout?): {cloned.stderr.strip()}")
    assert (checkout / "reports/w000_tables/index.md").is_file()  # the curated report a preset's sweep once rewrote
    where = _python(["-c", "import nnexp; print(nnexp.__file__)"], checkout)
    assert where.stdout.strip() == nnexp.__file__
    sweep = _python(["-m", "nnexp.run", "-m", *PRESET], checkout)
    output = sweep.stdout + sweep.stderr
    assert sweep.returncode == 0, output[-3000:]
    last = sweep.stdout.strip().splitlines()[-1]
    assert last.endswith("report: multirun/w000_tables/report/index.html (index.md beside it)")
    # on stderr, the plan, and one line per published table, since the preset ran on digits, not on MNIST
    assert [line.split(" were measured")[0] for line in sweep.stderr.splitlines()] == [
        "sweep of 3 runs into multirun/w000_tables",
        "warning: the published values of 000, Table 1",
        "warning: the published values of 000, Table 2",
    ]
    rebuilt = _python(["-m", "nnexp.report", "multirun/w000_tables"], checkout)  # its default folder: the same
    page = rebuilt.stdout.strip()
    assert rebuilt.returncode == 0 and page == "multirun/w000_tables/report/index.html", rebuilt.stderr
    status = subprocess.run(["git", "status", "--porcelain"], cwd=checkout, capture_output=True, text=True, check=True)
    assert status.stdout == ""
