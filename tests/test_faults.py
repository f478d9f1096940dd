"""Faults provoked for real on real sweeps: a worker killed with SIGKILL (what the OOM killer does), SIGTERM
and SIGINT to the sweep's process (a scheduler's preemption, Ctrl-C), SIGTERM to a single run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nnexp.results import SUMMARY_FILE
from nnexp.sweep.launcher.faults import DeathWatch, reset_registry
from nnexp.sweep.naming import sweep_name
from nnexp.training.checkpoint import CHECKPOINT_FILE
from tests.conftest import run_nnexp

pytestmark = pytest.mark.slow

# four runs of a few seconds each on the bundled digits: two at a time
SWEEP = ["-m", "data=digits", "batch_size=1", "epochs=120", "hidden=16,32", "seed=0,1", "hydra.launcher.n_jobs=2"]


def _statuses(sweep: Path) -> dict[str, str]:
    return {p.parent.name: json.loads(p.read_text())["status"] for p in sweep.glob(f"*/{SUMMARY_FILE}")}


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "nnexp.run", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _registered_workers(sweep: Path, count: int, timeout: float = 120) -> dict[int, int]:
    """Wait until ``count`` runs are running in worker processes; job number by worker pid."""
    return {pid: job for pid, (job, _) in _registry_entries(sweep, count, timeout).items()}


def _registry_entries(sweep: Path, count: int, timeout: float) -> dict[int, tuple[int, Path]]:
    """Wait until ``count`` runs are running in worker processes; (job number, registry entry) by worker pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entries = {}
        for entry in sweep.glob(".workers.*/[0-9]*"):
            try:
                entries[int(entry.name)] = (int(entry.read_text()), entry)
            except (OSError, ValueError):
                continue
        if len(entries) >= count:
            return entries
        time.sleep(0.05)
    raise AssertionError(f"{count} running runs never seen in {sweep}")


def _kill_a_worker_mid_run(sweep: Path, count: int = 2, timeout: float = 120) -> tuple[int, int]:
    """SIGKILL a worker process while it runs its job, once ``count`` run at once; (its pid, its job number).

    A job can end between the moment its entry is read and the kill: the worker is stopped first (SIGSTOP) and
    killed only if its entry, which the worker itself removes when its job ends, is still there; if not, it goes
    on (SIGCONT) and another is tried.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid, (job, entry) in _registry_entries(sweep, count, deadline - time.monotonic()).items():
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                continue
            while _state(pid) not in ("T", "Z", None):  # SIGSTOP takes effect when the process is next scheduled
                time.sleep(0.001)
            if entry.exists():
                os.kill(pid, signal.SIGKILL)
                return pid, job
            os.kill(pid, signal.SIGCONT)
        count = 1  # the runs that were running at once have ended: any running one will do
    raise AssertionError(f"no worker of {sweep} could be killed mid-run in {timeout} s")


def _state(pid: int) -> str | None:
    """The process's state letter from /proc (R, S, T, Z, ...); None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def _epochs_done(metrics: Path) -> int:
    try:
        return len(metrics.read_text().splitlines()) - 1
    except OSError:
        return 0


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` now (children, their children, ...), from /proc."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        if _state(pid) not in ("Z", None):
            alive.add(pid)
    return alive


def test_a_killed_worker_fails_only_its_run_and_a_rerun_retries_it(tmp_path) -> None:
    sweep = tmp_path / "multirun/sweep"
    process = _start([*SWEEP, f"hydra.sweep.dir={sweep}"], tmp_path)
    _, victim_job = _kill_a_worker_mid_run(sweep)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 1, output[-3000:]
    assert f"run #{victim_job}: worker process killed by signal 9 (out of memory?)" in output
    statuses = _statuses(sweep)
    assert sorted(statuses.values()) == ["completed", "completed", "completed", "failed"], output[-3000:]
    plan = json.loads((sweep / "sweep_plan.json").read_text())
    killed_dir = plan["jobs"][victim_job]["dir"]
    assert statuses[killed_dir] == "failed"
    summary = json.loads((sweep / killed_dir / SUMMARY_FILE).read_text())
    assert summary["error"] == "worker process killed by signal 9 (out of memory?)"
    assert summary["config"]["seed"] in (0, 1)  # Hydra's saved config: the report can place the run
    assert (sweep / "report/index.md").exists()  # the report was built, into the sweep folder
    assert "sweep done: 3 completed, 1 failed" in output
    rerun = run_nnexp([*SWEEP, f"hydra.sweep.dir={sweep}"], tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert sorted(_statuses(sweep).values()) == ["completed"] * 4


def test_the_death_watch_names_the_worker_killed_from_outside_not_those_this_process_killed_after_it(
    tmp_path,
) -> None:
    """On a loaded machine the kernel can report in one poll the worker killed from outside (the OOM killer) and the
    others, which joblib kills from the sweep's process once it sees the first gone: the watch names the first.
    Here both are dead before the watch starts, so that its first poll reports them together."""
    registry = tmp_path / ".workers.1"
    reset_registry(registry)
    outside, here = workers = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]) for _ in "ab"]
    try:
        for job, worker in [(7, outside), (8, here)]:
            (registry / str(worker.pid)).write_text(str(job))  # both running a job, as run_registered says
        watch = DeathWatch(registry)
        subprocess.run([sys.executable, "-c", f"import os; os.kill({outside.pid}, 9)"], check=True)
        deadline = time.monotonic() + 30
        while _state(outside.pid) != "Z":  # ended (not reaped: still to be watched)
            assert time.monotonic() < deadline, "the worker killed from outside never ended"
            time.sleep(0.01)
        for worker in workers:  # as joblib ends every worker once it sees one gone, the ended one too
            os.kill(worker.pid, signal.SIGKILL)
        while _state(here.pid) != "Z":
            assert time.monotonic() < deadline, "the worker killed here never ended"
            time.sleep(0.01)
        watch.start()
        while not watch.deaths and time.monotonic() < deadline:
            time.sleep(0.01)
        assert watch.stop() == 7 and watch.deaths == [[7]]
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()


def test_the_death_watch_stopped_after_a_reported_death_waits_for_the_kernel_to_report_it(tmp_path) -> None:
    """joblib sees a worker go (its pipes closed) before the kernel reports the process ended (every thread of it
    gone), later still on a loaded machine: stopped after a death joblib reported, the watch waits for the end."""
    registry = tmp_path / ".workers.1"
    reset_registry(registry)
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        (registry / str(worker.pid)).write_text("5")
        watch = DeathWatch(registry)
        watch.start()
        deadline = time.monotonic() + 30
        while not (registry / "watched" / str(worker.pid)).exists():
            assert time.monotonic() < deadline, "the watch never held the worker"
            time.sleep(0.01)
        killer = subprocess.Popen([sys.executable, "-c", f"import os, time; time.sleep(1); os.kill({worker.pid}, 9)"])
        assert watch.stop(death_reported=True) == 5  # the end came a second after the stop was asked for
        killer.wait()
    finally:
        worker.kill()
        worker.wait()


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_to_the_sweep_stops_it_with_checkpoints_and_no_process_left(tmp_path, signum, status) -> None:
    sweep = tmp_path / "multirun" / sweep_name(SWEEP[1:])  # the command's own folder
    assert sweep.name == "batch_size=1,data=digits,epochs=120,hidden=16,32,seed=0,1"
    process = _start(SWEEP, tmp_path)
    _registered_workers(sweep, 2)
    deadline = time.monotonic() + 120  # both runs a few epochs in: each has a checkpoint
    while time.monotonic() < deadline and sum(_epochs_done(p) >= 3 for p in sweep.glob("*/metrics.csv")) < 2:
        time.sleep(0.05)
    below = _descendants(process.pid)
    assert below, "the sweep has worker processes"
    os.kill(process.pid, signum)  # the sweep's process only, as a scheduler sends it
    output, _ = process.communicate(timeout=120)
    assert process.returncode == status, output[-3000:]
    name = signal.Signals(signum).name
    stop_lines = [line for line in output.splitlines() if f"sweep stopped by {name}" in line]
    assert len(stop_lines) == 1 and "2 running runs stopped where they were, 2 did not start" in stop_lines[0], output
    assert sorted(_statuses(sweep).values()) == ["interrupted", "interrupted"]
    assert len(list(sweep.glob(f"*/{CHECKPOINT_FILE}"))) == 2
    deadline = time.monotonic() + 10
    while _alive(below) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(below), f"processes left behind: {_alive(below)}"
    resumed = run_nnexp(SWEEP, tmp_path)  # the same command continues the sweep
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (resumed.stdout + resumed.stderr).count("resuming ") == 2
    assert [p.name for p in (tmp_path / "multirun").iterdir()] == [sweep.name]
    assert sorted(_statuses(sweep).values()) == ["completed"] * 4
    assert not list(sweep.glob(f"*/{CHECKPOINT_FILE}"))


def test_sigterm_to_a_single_run_checkpoints_it_and_exits_143(tmp_path) -> None:
    args = ["data=digits", "batch_size=1", "epochs=200", "hydra.run.dir=run"]
    process = _start(args, tmp_path)
    metrics, deadline = tmp_path / "run/metrics.csv", time.monotonic() + 120
    while time.monotonic() < deadline and (not metrics.exists() or len(metrics.read_text().splitlines()) < 5):
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 143, output[-3000:]
    summary = json.loads((tmp_path / "run" / SUMMARY_FILE).read_text())
    assert summary["status"] == "interrupted" and summary["error"].startswith("interrupted by SIGTERM")
    assert (tmp_path / "run" / CHECKPOINT_FILE).exists()
    resumed = run_nnexp(args, tmp_path)
    assert resumed.returncode == 0 and "resuming run from epoch" in resumed.stdout + resumed.stderr
    assert json.loads((tmp_path / "run" / SUMMARY_FILE).read_text())["status"] == "completed"


@pytest.fixture
def small_disk(tmp_path):
    """A real filesystem of 400 KiB (tmpfs), unmounted afterwards; skipped where the test cannot mount one."""
    mount_point = tmp_path / "small_disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_stops_the_sweep_keeps_its_results_and_a_rerun_completes_it(tmp_path, small_disk) -> None:
    sweep = small_disk / "sweep"
    args = ["-m", "data=digits", "epochs=3", "hidden=8", "seed=range(40)", "hydra.launcher.n_jobs=2"]
    args += [f"hydra.sweep.dir={sweep}", f"report.dir={tmp_path / 'reports'}"]
    full = run_nnexp(args, tmp_path)
    output = full.stdout + full.stderr
    assert full.returncode == 1, output[-3000:]
    lines = [line for line in output.splitlines() if "the sweep started no new run" in line]
    assert len(lines) == 1 and "disk full (no space left) writing" in lines[0], output[-3000:]
    assert "Traceback" not in output
    statuses = _statuses(sweep)
    finished = [name for name, status in statuses.items() if status == "completed"]
    assert 0 < len(finished) < 40
    assert not [p for p in sweep.rglob("*") if ".tmp" in p.name], "temporary files left behind"
    for name in finished:  # what finished stays whole
        assert json.loads((sweep / name / SUMMARY_FILE).read_text())["test_acc"] > 0
    subprocess.run(["mount", "-o", "remount,size=20m", str(small_disk)], check=True)  # space freed
    rerun = run_nnexp(args, tmp_path)
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-3000:]
    assert sorted(set(_statuses(sweep).values())) == ["completed"] and len(_statuses(sweep)) == 40


def test_a_cache_folder_that_cannot_be_written_leaves_runs_loading_without_it(tmp_path, small_disk) -> None:
    (small_disk / "filler").write_bytes(b"\0" * (400 * 1024 - 8192))  # (almost) nothing left for the arrays
    args = ["-m", "data=digits", "epochs=1", "hidden=8", "seed=0,1", "hydra.launcher.n_jobs=1"]
    done = run_nnexp([*args, f"data.cache_dir={small_disk}", f"hydra.sweep.dir={tmp_path / 'sweep'}"], tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "array cache not written to" in output and "loading without it" in output
    assert sorted(_statuses(tmp_path / "sweep").values()) == ["completed", "completed"]
    assert not [p for p in small_disk.rglob("*") if ".tmp" in p.name]


def _cached_x_train(cache: Path) -> Path:
    (path,) = cache.glob("arrays/digits-*/x_train.npy")
    return path


@pytest.mark.parametrize("damage", ["zeros", "nan", "truncated"])
def test_damaged_cached_arrays_are_detected_rebuilt_and_their_runs_rerun(tmp_path, damage) -> None:
    cache = tmp_path / "cache"
    args = ["-m", "data=digits", "epochs=2", "hidden=8", "seed=0,1", "hydra.launcher.n_jobs=1"]
    args += [f"data.cache_dir={cache}", f"hydra.sweep.dir={tmp_path / 'sweep'}", "report.enabled=false"]
    first = run_nnexp(args, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    results = {
        p.parent.name: json.loads(p.read_text())["test_acc"] for p in (tmp_path / "sweep").glob("*/summary.json")
    }
    x_train = _cached_x_train(cache)
    data = bytearray(x_train.read_bytes())
    middle = len(data) // 2
    if damage == "zeros":  # a real byte edit: 600 float32 values zeroed
        data[middle : middle + 2400] = bytes(2400)
    elif damage == "nan":
        data[middle : middle + 2400] = b"\x00\x00\xc0\x7f" * 600  # float32 NaN
    else:
        del data[middle:]
    x_train.write_bytes(bytes(data))
    again = run_nnexp(args, tmp_path)
    output = again.stdout + again.stderr
    assert again.returncode == 0, output[-3000:]
    warnings = [line for line in output.splitlines() if "array cache damaged, built again" in line]
    assert len(warnings) == 1 and "x_train.npy does not match its checksum" in warnings[0], output[-3000:]
    assert "finished already" not in output  # runs on the damaged arrays are not finished: both ran again
    rerun = {p.parent.name: json.loads(p.read_text())["test_acc"] for p in (tmp_path / "sweep").glob("*/summary.json")}
    assert rerun == results  # on the rebuilt arrays, the same results as before the damage
    assert _cached_x_train(cache).read_bytes() != bytes(data)


def test_a_single_run_checks_cached_arrays_changed_since_their_last_check(tmp_path) -> None:
    cache = tmp_path / "cache"
    args = ["data=digits", "epochs=1", "hidden=8", f"data.cache_dir={cache}"]
    assert run_nnexp([*args, "hydra.run.dir=first"], tmp_path).returncode == 0
    x_train = _cached_x_train(cache)
    data = bytearray(x_train.read_bytes())
    data[-4000:] = bytes(4000)
    x_train.write_bytes(bytes(data))
    second = run_nnexp([*args, "hydra.run.dir=second"], tmp_path)
    assert second.returncode == 0 and "array cache damaged, built again" in second.stdout + second.stderr
    accuracy = [json.loads((tmp_path / d / SUMMARY_FILE).read_text())["test_acc"] for d in ("first", "second")]
    assert accuracy[0] == accuracy[1]


def test_a_cache_entry_whose_metadata_is_damaged_is_rebuilt(tmp_path) -> None:
    cache = tmp_path / "cache"
    args = ["data=digits", "epochs=1", "hidden=8", f"data.cache_dir={cache}"]
    assert run_nnexp([*args, "hydra.run.dir=first"], tmp_path).returncode == 0
    for command in (["hydra.run.dir=second"], ["-m", "seed=0,1", "hydra.sweep.dir=sweep"]):  # a run, a sweep
        (meta,) = cache.glob("arrays/digits-*/meta.json")
        meta.write_text(meta.read_text()[:20])  # truncated: no longer JSON
        done = run_nnexp([*command, *args], tmp_path)
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-2000:]
        assert "array cache damaged, built again" in output and "meta.json cannot be read" in output
        assert json.loads(next(cache.glob("arrays/digits-*/meta.json")).read_text())["md5"]
