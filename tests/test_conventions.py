"""The conventions of every command: results on stdout, diagnostics on stderr (``-q``: only warnings and errors),
``--version``, the exit statuses the README lists, and no colour on the console."""

from __future__ import annotations

import logging
import logging.config
import re
import signal
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from nnexp.__main__ import COMMANDS
from nnexp.__main__ import main as nnexp_main
from nnexp.console import LEVEL_VARIABLE, RESULT_LINE, version_line
from nnexp.predict import main as predict_main
from nnexp.report.__main__ import main as report_main
from nnexp.reproduce.__main__ import main as reproduce_main
from nnexp.run import cli as run_cli
from nnexp.training.interrupt import SIGNALS, Interrupted
from tests.conftest import CONF_DIR, ROOT, run_nnexp
from tests.test_install import PYPROJECT
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


def test_every_command_prints_its_version(capsys, monkeypatch) -> None:
    assert version_line() == f"nnexp {PYPROJECT['project']['version']}"
    for main in (nnexp_main, report_main, predict_main, reproduce_main):
        with pytest.raises(SystemExit) as exit_info:
            main(["--version"])
        assert exit_info.value.code == 0 and capsys.readouterr() == (f"{version_line()}\n", "")
    monkeypatch.setattr(sys, "argv", ["nnexp-run", "-m", "hidden=8,16", "--version"])  # nnexp's, not Hydra's
    run_cli()
    assert capsys.readouterr() == (f"{version_line()}\n", "")


def test_nnexp_lists_every_command_and_refuses_anything_else(capsys) -> None:
    scripts = PYPROJECT["project"]["scripts"]
    assert scripts["nnexp"] == "nnexp.__main__:main" and sorted(COMMANDS) == sorted(set(scripts) - {"nnexp"})
    assert nnexp_main([]) == 0
    page = capsys.readouterr().out
    assert page.startswith("usage: nnexp") and version_line() in page and all(name in page for name in COMMANDS)
    with pytest.raises(SystemExit) as exit_info:
        nnexp_main(["run"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 2 and out == "" and "unrecognized arguments: run; the commands are nnexp-run" in err


def test_the_readme_lists_the_exit_statuses_the_code_uses() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Exit statuses", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^\| `([^`]+)` \|", table, re.MULTILINE) == ["0", "1", "2", "128+N"]
    stops = {signal.Signals(s).name: Interrupted(s, "").exit_status for s in SIGNALS}
    assert stops == {"SIGTERM": 143, "SIGINT": 130, "SIGHUP": 129, "SIGQUIT": 131}
    assert all(f"{status} ({name}" in table for name, status in stops.items())


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


@pytest.mark.slow
def test_every_module_command_prints_its_version(tmp_path) -> None:
    for module in ("nnexp", "nnexp.run", "nnexp.report", "nnexp.predict", "nnexp.reproduce"):
        done = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True, cwd=tmp_path)
        assert (done.returncode, done.stdout, done.stderr) == (0, f"{version_line()}\n", ""), module
    assert list(tmp_path.iterdir()) == []
