"""Every process a sweep starts ends soon after the sweep ends, whatever ends it: SIGINT, SIGHUP, SIGQUIT (to the
sweep's process or to its whole process group, as Ctrl-C, Ctrl-\\ and a closed terminal send them), or kill -9
of the sweep's process, mid-sweep (also when started under ``nohup``) or while its report is drawn. Each stop
names the signal that came. A run stopped (SIGSTOP ... SIGCONT) does not count the time stopped as training time,
however many SIGCONTs come.

Provoked for real: signals to real sweeps and runs (``python -m nnexp.run``) in subprocesses, each in a session
of its own that the test ends (SIGKILL to its process group) whatever happens.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nnexp.results import SUMMARY_FILE
from nnexp.run import STOPPED_OUTSIDE_RUNS, _let_threads_end
from nnexp.sweep.progress import SweepProgress
from nnexp.training.checkpoint import CHECKPOINT_FILE
from nnexp.training.stopped_time import active_time, count_stopped_time
from tests.test_faults import SWEEP, _alive, _descendants, _epochs_done, _registered_workers, _statuses

ENDS_WITHIN_SECONDS = 30  # the design is 5 s; generous for a loaded machine
WAIT_SECONDS = 120  # for a sweep to get where a test provokes its fault


@pytest.fixture
def start_session() -> Iterator[Callable[..., subprocess.Popen]]:
    """``start_session(args, cwd, nohup=False, background=False)``: ``python -m nnexp.run ARGS`` in a session (and
    process group) of its own, as a terminal starts a command (under ``nohup``: SIGHUP ignored; in the background
    of a script, ``cmd &``: SIGINT and SIGQUIT ignored); its output goes to
    ``cwd/output.txt`` (a pipe would stay open as long as any process left behind). Every process of each
    session started is killed when the test ends, whatever happens."""
    started: list[subprocess.Popen] = []

    def start(args: list[str], cwd: Path, nohup: bool = False, background: bool = False) -> subprocess.Popen:
        with (cwd / "output.txt").open("w") as output:
            process = subprocess.Popen(
                [*(["nohup"] if nohup else []), sys.executable, "-m", "nnexp.run", *args],
                cwd=cwd,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_as_in_the_background if background else None,
            )
        started.append(process)
        return process

    yield start
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)


def _output(process: subprocess.Popen, cwd: Path) -> str:
    """What the process said, once it has ended."""
    process.wait(timeout=120)
    return (cwd / "output.txt").read_text()


def _wait_until(condition: Callable[[], object], never: str) -> None:
    """Wait until ``condition()`` holds; fail saying what was ``never`` seen once :data:`WAIT_SECONDS` pass."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"{never} in {WAIT_SECONDS} s"
        time.sleep(0.01)


def _training(sweep: Path) -> None:
    """Wait until two runs train in worker processes, an epoch done in each (each has a checkpoint)."""
    _registered_workers(sweep, 2, WAIT_SECONDS)
    _wait_until(
        lambda: sum(_epochs_done(p) >= 1 for p in sweep.glob("*/metrics.csv")) >= 2,
        f"two runs with an epoch done never seen in {sweep}",
    )


def _assert_all_end(pids: set[int]) -> None:
    deadline = time.monotonic() + ENDS_WITHIN_SECONDS
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _alive(pids)
    commands = [_command(pid) for pid in left]
    for pid in left:  # a failed test leaves nothing behind either
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left behind: {commands}"


def _command(pid: int) -> str:
    try:
        return f"{pid}: " + Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:150]
    except OSError:
        return f"{pid}: (ended)"


def _errors(sweep: Path) -> list[str]:
    return sorted(json.loads(p.read_text()).get("error") or "" for p in sweep.glob(f"*/{SUMMARY_FILE}"))


def _as_in_the_background() -> None:
    """What a shell without job control does for ``cmd &``: SIGINT and SIGQUIT ignored (they come from ``kill``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)


@pytest.mark.slow
@pytest.mark.parametrize(
    "signum, to_group, background",
    [
        (signal.SIGINT, True, False),  # Ctrl-C: the terminal sends it to every process of the command
        (signal.SIGHUP, False, False),  # to the sweep's process only
        (signal.SIGHUP, True, False),  # the terminal closed
        (signal.SIGQUIT, False, False),
        (signal.SIGINT, False, True),  # `kill -INT` of a sweep a script started with `&`
    ],
    ids=["SIGINT-group", "SIGHUP", "SIGHUP-group", "SIGQUIT", "SIGINT-background"],
)
def test_a_stop_signal_is_named_checkpoints_the_runs_and_ends_every_process(
    tmp_path, start_session, signum, to_group, background
) -> None:
    sweep = tmp_path / "sweep"
    process = start_session([*SWEEP, f"hydra.sweep.dir={sweep}"], tmp_path, background=background)
    _training(sweep)
    below = _descendants(process.pid)
    assert below, "the sweep has worker processes"
    if to_group:
        os.killpg(process.pid, signum)
    else:
        os.kill(process.pid, signum)
    output = _output(process, tmp_path)
    name = signal.Signals(signum).name
    assert process.returncode == 128 + signum, output[-3000:]
    stop_lines = [line for line in output.splitlines() if f"sweep stopped by {name}:" in line]
    assert len(stop_lines) == 1 and "2 running runs stopped where they were" in stop_lines[0], output[-3000:]
    assert sorted(_statuses(sweep).values()) == ["interrupted", "interrupted"], output[-3000:]
    assert all(error.startswith(f"interrupted by {name} ") for error in _errors(sweep)), _errors(sweep)
    assert len(list(sweep.glob(f"*/{CHECKPOINT_FILE}"))) == 2
    _assert_all_end(below)


@pytest.mark.slow
@pytest.mark.parametrize("nohup", [False, True], ids=["plain", "under-nohup"])
def test_kill_9_of_the_sweep_mid_sweep_ends_its_workers_with_checkpoints(tmp_path, start_session, nohup) -> None:
    sweep = tmp_path / "sweep"
    process = start_session([*SWEEP, f"hydra.sweep.dir={sweep}"], tmp_path, nohup=nohup)
    _training(sweep)
    below = _descendants(process.pid)
    process.kill()
    process.wait(timeout=60)
    _assert_all_end(below)
    # the workers noticed their parent was gone: each stopped its run as on a hangup, with a checkpoint (under
    # nohup too, where a SIGHUP would be ignored)
    assert sorted(_statuses(sweep).values()) == ["interrupted", "interrupted"], _output(process, tmp_path)[-3000:]
    assert all(error.startswith("interrupted by SIGHUP ") for error in _errors(sweep)), _errors(sweep)
    assert len(list(sweep.glob(f"*/{CHECKPOINT_FILE}"))) == 2


# 6 runs of a few seconds each, then a report of 15 figures: seconds between its first figure and its index.html
REPORT_SWEEP = ["-m", "data=digits", "epochs=1", "hidden=8", "seed=0", "lr=0.01,0.02,0.05,0.1,0.2,0.5"]
REPORT_ATTEMPTS = 3


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_kill_9_or_ctrl_c_of_the_sweep_while_its_report_is_drawn_leaves_no_process(
    tmp_path, start_session, signum
) -> None:
    """kill -9, or Ctrl-C (SIGINT: one line naming it, exit 130, no traceback), while the report is drawn."""
    for attempt in range(REPORT_ATTEMPTS):
        sweep = tmp_path / f"sweep{attempt}"
        process = start_session([*REPORT_SWEEP, "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}"], tmp_path)
        _wait_until(lambda folder=sweep: list(folder.glob("report/*.png")), f"no figure of the report drawn in {sweep}")
        below = _descendants(process.pid)
        process.send_signal(signum)
        process.wait(timeout=60)
        _assert_all_end(below)
        if signum == signal.SIGINT and process.returncode != 0:  # 0: the report was finished before the signal
            output = (tmp_path / "output.txt").read_text()
            assert process.returncode == 130 and "Traceback" not in output, output[-3000:]
            assert output.strip().splitlines()[-1].startswith(f"{STOPPED_OUTSIDE_RUNS}; rerun the same command"), output
        if not (sweep / "report/index.html").exists():  # else the report was finished before the kill: again
            break
    else:
        pytest.fail(f"the report was finished before the kill {REPORT_ATTEMPTS} times: nothing provoked")
    assert below, "the report's figures are drawn by the sweep's worker processes"


def test_a_stop_by_sigint_waits_for_the_threads_still_ending_before_its_stop_line() -> None:
    """A thread still ending when the stop line is due (as joblib's queue threads are, releasing the pool's
    semaphores) ends first: the process then exits with nothing left to say after that line."""
    ending = threading.Thread(target=time.sleep, args=(0.3,), daemon=True)
    ending.start()
    _let_threads_end(30)
    assert not ending.is_alive()


def test_the_sweep_progress_leaves_no_thread_behind(tmp_path) -> None:
    """Every thread a sweep's progress starts (its watcher; tqdm's monitor is not started) ends when it closes: a
    stopped sweep has none to wait for."""
    before = set(threading.enumerate())
    progress = SweepProgress(tmp_path, ["run0"])
    progress.close()
    assert set(threading.enumerate()) <= before


@pytest.mark.parametrize("summary", ['{"status": "weird"}', "[]"])
def test_the_sweep_progress_counts_and_names_a_run_whose_summary_cannot_be_read(tmp_path, caplog, summary) -> None:
    """A summary nnexp cannot read (an unknown status, not an object) is a run that ended, shown as unreadable."""
    progress = SweepProgress(tmp_path, None)  # a search's sweep: every folder with a summary
    (tmp_path / "trial").mkdir()
    (tmp_path / "trial" / "summary.json").write_text(summary)
    with caplog.at_level(logging.INFO, logger="nnexp.sweep.progress"):
        progress.update()
    progress.close()
    (line,) = [record.getMessage() for record in caplog.records]
    assert line.startswith("run 1/? unreadable: trial — summary.json ")


def _epoch_rows(metrics: Path) -> list[dict[str, str]]:
    with metrics.open() as file:
        return list(csv.DictReader(file))


@pytest.mark.slow
def test_the_time_a_run_is_stopped_is_not_training_time(tmp_path, start_session) -> None:
    process = start_session(["data=digits", "batch_size=1", "epochs=25", "hydra.run.dir=run"], tmp_path)
    metrics = tmp_path / "run/metrics.csv"
    deadline = time.monotonic() + WAIT_SECONDS
    done = 0
    while done < 2:
        assert time.monotonic() < deadline, f"two epochs never seen in {metrics} in {WAIT_SECONDS} s"
        time.sleep(0.01)
        done, written = _epochs_done(metrics), metrics.stat().st_mtime if metrics.exists() else 0.0
        if _epochs_done(metrics) != done:  # a row came between the two looks: look again
            done = 0
    # the file changes at each row: ``written`` is when epoch ``done`` ended and the next began
    process.send_signal(signal.SIGSTOP)
    time.sleep(3)
    process.send_signal(signal.SIGCONT)
    output = _output(process, tmp_path)
    window = time.time() - written  # the later epochs ran within it, and it holds 3 s stopped
    assert process.returncode == 0, output[-3000:]
    rows = _epoch_rows(metrics)
    assert len(rows) == 25, "the run survives the stop"
    measured = sum(float(row["epoch_seconds"]) + float(row["eval_seconds"]) for row in rows[done:])
    assert measured < window - 3 + 0.5, (
        f"epochs {done + 1}-25 measured {measured:.2f} s in a window of {window:.2f} s, 3 s of which stopped"
    )
    summary = json.loads((tmp_path / "run" / SUMMARY_FILE).read_text())
    assert summary["train_seconds"] == pytest.approx(sum(float(row["epoch_seconds"]) for row in rows))


def test_a_sigcont_at_any_line_of_the_handling_of_another_is_counted_without_error() -> None:
    """Two SIGCONTs close together (two ``kill -CONT``, or a stop and continue while the first is handled): the
    second one's handler runs between two lines of the first one's. Here it does, once at each line."""
    with count_stopped_time():
        handler = signal.getsignal(signal.SIGCONT)
        interrupted_lines: set[int] = set()

        def at_each_line(frame, event: str, arg: object) -> object:
            if event == "line" and frame.f_lineno not in interrupted_lines:
                interrupted_lines.add(frame.f_lineno)
                signal.raise_signal(signal.SIGCONT)  # handled before raise_signal returns, as a nested call
            return at_each_line

        def trace_the_first_call(frame, event: str, arg: object) -> object:
            if frame.f_code is not handler.__code__ or interrupted_lines:
                return None
            return at_each_line

        sys.settrace(trace_the_first_call)
        try:
            before = time.perf_counter() - active_time()
            signal.raise_signal(signal.SIGCONT)
        finally:
            sys.settrace(None)
        assert len(interrupted_lines) >= 4, "each line of the handler had a SIGCONT handled within it"
        assert time.perf_counter() - active_time() >= before
