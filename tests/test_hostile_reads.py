"""Reads with deadlines and bounds, atomic writes and verified reads, provoked for real: a server on 127.0.0.1 that
drips, stalls or lies, a process killed mid-download, a gzip bomb, read-only folders (a read-only tmpfs where the
tests run as root), empty and truncated checkpoints, a temporary checkpoint left by a killed writer."""

from __future__ import annotations

import gzip
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from nnexp.data import DataUnavailableError
from nnexp.data.download import MAX_FILE_BYTES, fetch
from nnexp.data.idx import IDX_FILES
from nnexp.training.checkpoint import CHECKPOINT_FILE
from tests.conftest import make_idx_dataset, md5, run_nnexp

NAME = IDX_FILES["train_labels"]
CLAIMED_LENGTH = 1000  # what the hostile mirrors announce (Content-Length)
HUGE_LENGTH = 10**12  # what the mirror of a terabyte announces
DEAD_PID = 2**22 + 1  # above the kernel's largest process id (pid_max): no such process, ever
HOST = re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname())  # this host as temporary names hold it


def _temporary(path: Path, suffix: str, host: str = HOST, pid: int = DEAD_PID) -> Path:
    """The name a writer (``host``, ``pid``: a dead process of this host by default) gives ``path`` until it is
    complete."""
    return path.with_name(f".{path.name}.{host}-{pid}.{suffix}")


RUN = ["data=digits", "hydra.run.dir=run"]


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "error:" in line]


@pytest.fixture
def hostile_server(tmp_path: Path):
    """A server on 127.0.0.1; yields (base URL, served folder). ``good/<file>`` serves the folder's file,
    ``drip/<file>`` announces 1000 bytes and sends one a second, ``stall/<file>`` sends its headers and then
    nothing, ``short/<file>`` sends 10 of its 1000 bytes and closes, ``huge/<file>`` announces a terabyte and
    ``endless/<file>`` announces nothing, and both send zeros until the client goes."""
    served = tmp_path / "served"
    served.mkdir()
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            kind, _, name = self.path.strip("/").partition("/")
            body = (served / name).read_bytes() if kind == "good" else b"\0" * CLAIMED_LENGTH
            self.send_response(200)
            if kind != "endless":  # no length: the body ends when the connection does
                self.send_header("Content-Length", str(HUGE_LENGTH if kind == "huge" else len(body)))
            self.end_headers()
            try:
                if kind in ("huge", "endless"):
                    while not stop.is_set():
                        self.wfile.write(bytes(1 << 16))
                elif kind == "drip":
                    for byte in range(len(body)):
                        self.wfile.write(body[byte : byte + 1])
                        self.wfile.flush()
                        if stop.wait(1):
                            return
                elif kind == "stall":
                    self.wfile.flush()
                    stop.wait(60)
                else:
                    self.wfile.write(body[:10] if kind == "short" else body)
            except OSError:  # the client gave up: what it should do
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", served
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_mirrors_that_drip_stall_or_lie_are_given_up_with_each_reason_and_nothing_left(
    hostile_server, tmp_path
) -> None:
    url, _ = hostile_server
    cache = tmp_path / "cache"
    mirrors = [f"{url}{kind}/" for kind in ("drip", "stall", "short")]
    started = time.monotonic()
    with pytest.raises(DataUnavailableError) as info:
        fetch({NAME: "0" * 32}, mirrors, cache, deadline=3, read_timeout=2)
    assert time.monotonic() - started < 30  # 3 + 2 s by design
    message = str(info.value)
    assert "\n" not in message
    assert f"{url}drip: not complete after 3 s (deadline; " in message
    assert f"{url}stall: no data for 2 s (read timeout)" in message
    assert f"{url}short: incomplete (10 of {CLAIMED_LENGTH} bytes)" in message
    assert not cache.exists()  # no partial file, no folder made for it


def test_a_mirror_of_a_huge_or_endless_file_is_given_up_at_the_size_bound_and_nothing_left(
    hostile_server, tmp_path
) -> None:
    url, _ = hostile_server
    cache, bound = tmp_path / "cache", 1 << 20
    with pytest.raises(DataUnavailableError) as info:
        fetch({NAME: "0" * 32}, [f"{url}huge/", f"{url}endless/"], cache, deadline=60, max_bytes=bound)
    message = str(info.value)
    assert "\n" not in message
    assert f"{url}huge: larger than {bound} bytes: not the file ({HUGE_LENGTH} bytes announced)" in message
    assert f"{url}endless: larger than {bound} bytes: not the file (more than {bound} bytes sent)" in message
    assert not cache.exists()  # no partial file, no folder made for it
    with pytest.raises(DataUnavailableError, match=f"larger than {MAX_FILE_BYTES} bytes: not the file"):
        fetch({NAME: "0" * 32}, [f"{url}huge/"], cache)  # the bound a download has unless told otherwise
    assert not cache.exists()


def test_only_the_leftovers_of_dead_writers_of_this_host_are_removed(hostile_server, tmp_path, caplog) -> None:
    url, served = hostile_server
    make_idx_dataset(served)
    cache = tmp_path / "cache"
    dead_here = _temporary(cache / NAME, "part")
    other_host = _temporary(cache / NAME, "part", host="node_17_cluster")  # its writer may live: unknowable here
    alive_here = _temporary(cache / IDX_FILES["test_labels"], "part", pid=os.getpid())
    index_dead_here = _temporary(cache / "digests.json", "tmp")
    cache.mkdir()
    for left in (dead_here, other_host, alive_here, index_dead_here):
        left.write_bytes(b"half a file")
    with caplog.at_level(logging.INFO, logger="nnexp.places"):
        fetch({NAME: md5(served / NAME)}, [url + "good/"], cache)
    assert sorted(path.name for path in cache.iterdir()) == sorted([NAME, other_host.name, alive_here.name])
    removed = [line for line in caplog.text.splitlines() if "removed" in line]
    assert len(removed) == 2
    assert f"removed {dead_here}, the unfinished {NAME} of an interrupted process (pid {DEAD_PID})" in caplog.text
    assert f"removed {index_dead_here}, the unfinished digests.json of an interrupted process" in caplog.text


@pytest.mark.slow
def test_a_download_killed_midway_leaves_a_partial_file_that_the_next_start_removes(
    hostile_server, tmp_path, caplog
) -> None:
    url, served = hostile_server
    make_idx_dataset(served)
    cache = tmp_path / "cache"
    code = (
        "from pathlib import Path; from nnexp.data.download import fetch;"
        f" fetch({{{NAME!r}: {'0' * 32!r}}}, [{url + 'drip/'!r}], Path({str(cache)!r}))"
    )
    process = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (cache.exists() and any(cache.iterdir())):
        time.sleep(0.05)
    time.sleep(1.5)  # a byte or two written
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    left = sorted(path.name for path in cache.iterdir())
    assert left and NAME not in left  # the killed download's partial file, never under the file's own name
    with caplog.at_level(logging.INFO, logger="nnexp.places"):
        fetch({NAME: md5(served / NAME)}, [url + "good/"], cache)
    assert sorted(path.name for path in cache.iterdir()) == [NAME]
    assert left == [_temporary(cache / NAME, "part", pid=process.pid).name]
    assert (
        f"removed {cache / left[0]}, the unfinished {NAME} of an interrupted process (pid {process.pid})" in caplog.text
    )


@pytest.mark.slow
def test_an_array_cache_entry_left_unfinished_by_a_killed_process_is_removed_at_the_next_start(tmp_path) -> None:
    arrays = tmp_path / "cache/arrays"
    # what a process killed while it wrote the arrays leaves (the writer's name for its folder; no such process)
    left = _temporary(arrays / "digits-0123456789abcdef0123", "tmp")
    left.mkdir(parents=True)
    (left / "x_train.npy").write_bytes(b"\x93NUMPY half an array")
    done = run_nnexp([*RUN, "epochs=1", f"data.cache_dir={tmp_path / 'cache'}"], tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-2000:]
    assert not left.exists() and list(arrays.glob("digits-*/x_train.npy"))  # the entry built in its place
    assert f"removed {left}, the unfinished digits-0123456789abcdef0123 of an interrupted process" in output


def _gzip_bomb(path: Path, shape: tuple[int, ...], zeros: int) -> None:
    """An IDX file whose header claims ``shape`` (uint8) followed by ``zeros`` zero bytes, gzip-compressed: gzip
    members of 64 MiB of zeros, each compressed once, written one after another (a few MB on disk)."""
    block = 64 << 20
    member = gzip.compress(bytes(block), compresslevel=9)
    with open(path, "wb") as handle:
        handle.write(gzip.compress(bytes([0, 0, 0x08, len(shape)]) + np.array(shape, dtype=">u4").tobytes()))
        for _ in range(zeros // block):
            handle.write(member)


# Runs a command and prints the peak resident memory of its processes (KiB) as the last line of its output.
PEAK_MEMORY = (
    "import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]);"
    " print(f'peak {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}'); sys.exit(done.returncode)"
)


@pytest.mark.slow
def test_a_gzip_bomb_in_data_root_is_refused_in_one_line_within_bounded_memory(tmp_path) -> None:
    folder = tmp_path / "bomb"
    make_idx_dataset(folder)
    bomb = folder / IDX_FILES["train_images"]
    _gzip_bomb(bomb, (120, 28, 28), zeros=2 << 30)  # 94 KB of images claimed, 2 GiB given
    assert bomb.stat().st_size < 8 << 20
    command = [sys.executable, "-c", PEAK_MEMORY, sys.executable, "-m", "nnexp.run", f"data.root={folder}", *RUN[1:]]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 2 and "Traceback" not in output, output[-2000:]
    peak_kib = int(done.stdout.splitlines()[-1].removeprefix("peak "))
    assert peak_kib < 1 << 20, f"peak resident memory {peak_kib / 1024:.0f} MiB"
    (line,) = _error_lines(output)
    assert f"{bomb}: IDX data has trailing bytes, longer than its header says: shape (120, 28, 28)" in line
    assert "needs 94080 bytes" in line


@pytest.fixture
def read_only_folder(tmp_path: Path):
    """An empty folder nobody can write to: mode 0555, or where the tests run as root (who writes anyway), a
    read-only tmpfs mounted on it; skipped where neither works."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    mounted = False
    if os.access(folder, os.W_OK):
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot make a read-only folder here (root, and no mount): {done.stderr.decode().strip()}")
        mounted = True
    yield folder
    if mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)
    folder.chmod(0o755)


@pytest.mark.slow
def test_a_single_run_in_a_read_only_folder_is_one_line_naming_it(read_only_folder) -> None:
    done = run_nnexp(["data=digits", "epochs=1"], read_only_folder)
    output = done.stdout + done.stderr
    assert done.returncode == 2 and "Traceback" not in output, output[-2000:]
    (line,) = _error_lines(output)
    assert f"hydra.run.dir={read_only_folder}/outputs/" in line and "cannot be written (Read-only file system" in line
    assert line.endswith("(no run was started)")


@pytest.mark.slow
def test_a_sweep_folder_on_a_read_only_filesystem_is_one_line_naming_it(read_only_folder, tmp_path) -> None:
    done = run_nnexp(
        ["-m", "data=digits", "epochs=1", "hidden=8,16", f"hydra.sweep.dir={read_only_folder}/sweep"], tmp_path
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2 and "Traceback" not in output, output[-2000:]
    (line,) = _error_lines(output)
    assert f"hydra.sweep.dir={read_only_folder}/sweep cannot be written" in line


@pytest.mark.slow
@pytest.mark.parametrize("where", ["HOME", "data.cache_dir"])
def test_a_download_into_a_read_only_folder_is_one_line_naming_it(read_only_folder, tmp_path, where) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("NNEXP_CACHE_DIR", "XDG_CACHE_HOME", "NNEXP_DATA_DIR")}
    args = ["data.urls=[http://127.0.0.1:9/]", "epochs=1", "hydra.run.dir=run"]
    if where == "HOME":
        env["HOME"] = str(read_only_folder)
        cache = read_only_folder / ".cache/nnexp/mnist"
    else:
        cache = read_only_folder / "cache"
        args.append(f"data.cache_dir={cache}")
    done = subprocess.run(
        [sys.executable, "-m", "nnexp.run", *args], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2 and "Traceback" not in output, output[-2000:]
    (line,) = _error_lines(output)
    assert f"the download folder {cache} cannot be written (Read-only file system)" in line, line
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_an_empty_or_truncated_checkpoint_means_starting_over_with_a_warning(tmp_path, damage) -> None:
    args = [*RUN, "epochs=6", "batch_size=1"]
    checkpoint = tmp_path / "run" / CHECKPOINT_FILE
    if damage == "empty":
        checkpoint.parent.mkdir()
        checkpoint.touch()
    else:  # a real checkpoint (of a run killed part-way), cut in half
        _kill_when_checkpointed(args, tmp_path)
        checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    done = run_nnexp(args, tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in output, output[-2000:]
    (warning,) = [line for line in output.splitlines() if "unreadable" in line]
    assert f"checkpoint {checkpoint} unreadable (" in warning and warning.endswith("): starting over")
    assert "completed" in (tmp_path / "run/summary.json").read_text() and not checkpoint.exists()
    again = run_nnexp(args, tmp_path)  # and the same command again: nothing to do, no error
    assert again.returncode == 0 and "unreadable" not in again.stdout + again.stderr


def _kill_when_checkpointed(args: list[str], cwd: Path) -> None:
    """Start a run and kill it (SIGKILL) once it has written a checkpoint and two epochs."""
    process = subprocess.Popen([sys.executable, "-m", "nnexp.run", *args], cwd=cwd, stdout=subprocess.DEVNULL)
    metrics, deadline = cwd / "run/metrics.csv", time.monotonic() + 120
    try:
        while not metrics.exists() or len(metrics.read_text().splitlines()) < 3:
            assert process.poll() is None, f"the run ended (status {process.returncode}) before two epochs"
            assert time.monotonic() < deadline, f"two epochs never written to {metrics} in 120 s"
            time.sleep(0.01)
    finally:
        process.kill()
        process.wait()
    assert (cwd / "run" / CHECKPOINT_FILE).exists()


@pytest.mark.slow
def test_a_temporary_checkpoint_left_by_a_killed_writer_is_removed_at_the_next_start(tmp_path) -> None:
    args = [*RUN, "epochs=6", "batch_size=1"]
    _kill_when_checkpointed(args, tmp_path)
    # what a writer killed between opening its temporary file and the rename leaves (the writer's name for it)
    left = _temporary(tmp_path / "run" / CHECKPOINT_FILE, "tmp.npz")
    left.write_bytes(b"PK\x03\x04 half a zip")
    done = run_nnexp(args, tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-2000:]
    assert (
        f"removed {left}, the unfinished {CHECKPOINT_FILE} of an interrupted process"
        in (tmp_path / "run/run.log").read_text()
    )
    assert "resuming run from epoch" in output
    assert not left.exists() and not list((tmp_path / "run").glob(".*.tmp*"))


@pytest.mark.slow
def test_every_temporary_file_a_killed_run_left_is_removed_at_its_next_start(tmp_path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    # what a run killed while writing each of its files leaves, and a shared folder's writer on another host
    left = [
        _temporary(run / CHECKPOINT_FILE, "tmp.npz"),
        _temporary(run / "model.npz", "tmp.npz"),
        _temporary(run / "summary.json", "tmp"),
        _temporary(run / "write_test", "tmp"),
    ]
    other_host = _temporary(run / "summary.json", "tmp", host="node_17_cluster")
    for path in [*left, other_host]:
        path.write_bytes(b"PK\x03\x04 half a file")
    done = run_nnexp([*RUN, "epochs=1", "save_model=true"], tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-2000:]
    assert '"status": "completed"' in (run / "summary.json").read_text()
    log_text = (run / "run.log").read_text()
    for path in left:
        assert not path.exists()
        name = path.name.split(f".{HOST}-")[0].removeprefix(".")
        assert log_text.count(f"removed {path}, the unfinished {name} of an interrupted process") == 1
    assert other_host.exists()
