"""The conventions of every command: results on stdout, diagnostics on stderr (``-q``: only warnings and errors),
and no colour on the console."""

from __future__ import annotations

import logging
import logging.config

import pytest
from omegaconf import OmegaConf

from nnexp.console import LEVEL_VARIABLE, RESULT_LINE
from tests.conftest import CONF_DIR, run_nnexp
from tests.test_scaling_out import needs_optuna

ANSI = "\x1b["  # how a terminal's colour (and any other escape sequence) begins
QUICK = ["data=digits", "epochs=1"]


@pytest.fixture
def console(tmp_path, monkeypatch):
    """Configure logging from one of the console's configs (``hydra_logging``, ``job_logging``; a run's log file in
    ``tmp_path``), as Hydra does; the logging as it was afterwards."""
    root, levels = logging.getLogger(), {name: logging.getLogger(name).level for name in ("matplotlib", "alembic")}
    handlers, level = root.handlers[:], root.level

    def configure(name: str, quiet: bool = False) -> None:
        if quiet:
            monkeypatch.setenv(LEVEL_VARIABLE, "WARNING")
        config = OmegaConf.load(CONF_DIR / "hydra" / name / "nnexp.yaml")
        if "file" in config.handlers:
            config.handlers.file.filename = str(tmp_path / "run.log")
        logging.config.dictConfig(OmegaConf.to_container(config, resolve=True))

    yield configure
    for handler in root.handlers:
        handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def _log_a_result_context_and_warnings() -> None:
    log = logging.getLogger("nnexp.sweep.progress")
    log.info("run 1/1 completed", extra=RESULT_LINE)
    log.info("sweep of 1 runs into here")
    logging.getLogger("hydra").info("Launching 1 jobs locally")
    log.warning("a warning")
    log.error("error: a result that failed", extra=RESULT_LINE)  # a warning or error is never a result


@pytest.mark.parametrize("name", ["hydra_logging", "job_logging"])
def test_results_go_to_stdout_and_every_other_line_to_stderr(console, capsys, name) -> None:
    console(name)
    _log_a_result_context_and_warnings()
    out, err = capsys.readouterr()
    assert out == "run 1/1 completed\n"
    assert err == "sweep of 1 runs into here\nLaunching 1 jobs locally\na warning\nerror: a result that failed\n"


@pytest.mark.parametrize("name", ["hydra_logging", "job_logging"])
def test_quiet_shows_only_warnings_and_errors(console, capsys, tmp_path, name) -> None:
    console(name, quiet=True)
    _log_a_result_context_and_warnings()
    assert capsys.readouterr() == ("", "a warning\nerror: a result that failed\n")
    if name == "job_logging":  # a run's log file has every line, whatever the console shows
        assert len((tmp_path / "run.log").read_text().splitlines()) == 5


@pytest.mark.slow
def test_a_run_and_a_sweep_print_their_results_on_stdout_only(tmp_path) -> None:
    single = run_nnexp([*QUICK, "hydra.run.dir=single"], tmp_path)
    assert single.returncode == 0, single.stderr[-2000:]
    assert single.stdout == "results in single/ (metrics.csv, summary.json, run.log)\n"
    assert "completed after 1 epochs: test accuracy" in single.stderr  # context: its data, network, how it ended
    sweep = run_nnexp(["-m", *QUICK, "hidden=8,16", "hydra/launcher=basic", "hydra.sweep.dir=sweep"], tmp_path)
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    out = sweep.stdout.splitlines()
    assert [line.split(":")[0] for line in out] == ["run 1/2 completed", "run 2/2 completed", "sweep done", "report"]
    assert sweep.stderr.splitlines()[:2] == ["sweep of 2 runs into sweep", "Launching 2 jobs locally"]  # Hydra's
    assert ANSI not in sweep.stdout + sweep.stderr + single.stdout + single.stderr


@pytest.mark.slow
@needs_optuna
def test_a_search_shows_optunas_lines_plain_on_stderr_and_none_with_quiet(tmp_path) -> None:
    """Optuna's own handler colours its lines even into a file; nnexp's console shows them as bare diagnostics."""
    args = ["-m", "+hparams_search=optuna", *QUICK, "hydra.sweeper.n_trials=2", "hydra.sweeper.sampler.seed=0"]
    done = run_nnexp(args, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "A new study created in RDB with name: nnexp_digits\n" in done.stderr
    assert ANSI not in done.stdout + done.stderr and "setup plugin" not in done.stdout + done.stderr
    assert all(line.startswith(("run ", "sweep done: ", "report: ")) for line in done.stdout.splitlines())
    quiet = run_nnexp(["-q", *args], tmp_path)
    assert quiet.returncode == 0 and quiet.stdout == "" and "study" not in quiet.stderr, quiet.stderr[-2000:]
