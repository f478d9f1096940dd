"""Shared fixtures: generated IDX files, a local HTTP server, Hydra config composition, one real sweep."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import matplotlib
import matplotlib.font_manager
import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf, open_dict

from nnexp.command_line import COMPOSE_OPTIONS, register_configs
from nnexp.config import Config
from nnexp.data import split_sizes
from nnexp.data.idx import IDX_FILES, write_idx
from nnexp.data.sets import digits
from nnexp.results.files import written_files

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"
SHARED_DATA = ROOT.parent / "shared" / "data"
MNIST_5K = SHARED_DATA / "mnist-5k"

# Shows the launcher's debug lines: its joblib settings, how many jobs it launches and in which order
LAUNCHER_VERBOSE = "hydra.verbose=hydra_plugins.nnexp_launcher.ordered_joblib"
# Headless Chromium on a machine without network: no GPU, no first-run pages, no background connections (each
# refused, with noise on the console), a fresh profile added by each test (--user-data-dir)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# The sweep of test_sweep.py and test_html_report.py, run once per session (``shared_sweep``)
SHARED_GRID = ["activation=sigmoid,relu", "hidden=8,16", "lr=0.05,0.5", "seed=0,1"]
SHARED_RUNS = math.prod(len(override.split("=", 1)[1].split(",")) for override in SHARED_GRID)


def digits_n_train(val_size: float, train_limit: int | None = None) -> int:
    """Training images of the digits set after the validation split (1,797 images, a fifth held out for testing)."""
    return split_sizes(digits.N_IMAGES - digits.N_TEST, val_size, train_limit)[1]


def settings_of(cfg) -> Config:
    """The typed settings of a composed config (without its hydra node), as the run's entry point hands them on."""
    if "hydra" in cfg:
        cfg = cfg.copy()
        with open_dict(cfg):
            del cfg["hydra"]
    return OmegaConf.to_object(cfg)


def run_nnexp(args: list[str], cwd: Path, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m nnexp.run ARGS`` in ``cwd`` as a user would; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "nnexp.run", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def make_idx_dataset(folder: Path, n_train: int = 120, n_test: int = 40, seed: int = 0) -> dict[str, np.ndarray]:
    """A small MNIST-shaped data set (28x28 uint8 images, labels 0..9) written as the four .gz files."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, size=n_train).astype(np.uint8),
        "test_images": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, size=n_test).astype(np.uint8),
    }
    for role, array in arrays.items():
        write_idx(folder / IDX_FILES[role], array)
    return arrays


def write_finished_run(folder: Path, config: dict, train_acc: list[float], test_acc: list[float]) -> None:
    """A finished run's files as the trainer writes them (summary.json, metrics.csv), with the given per-epoch
    training and test (= validation) accuracies: for report and scoreboard tests that need no training."""
    folder.mkdir(parents=True)
    rows = [
        f"{epoch},0.5,{train},0.5,{test},0.5,{test},0.1,0.01"
        for epoch, (train, test) in enumerate(zip(train_acc, test_acc), start=1)
    ]
    header = "epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,epoch_seconds,eval_seconds"
    (folder / "metrics.csv").write_text("\n".join([header, *rows]) + "\n")
    summary = {"status": "completed", "train_acc": train_acc[-1], "val_acc": test_acc[-1], "test_acc": test_acc[-1]}
    summary |= {"epochs_completed": len(rows), "train_seconds": 0.1 * len(rows)}
    summary |= {"files": written_files(folder, ["metrics.csv"]), "config": {**config, "epochs": len(rows)}}
    (folder / "summary.json").write_text(json.dumps(summary))


# Audit events of starting a process (https://docs.python.org/3/library/audit_events.html). Loky's workers start
# through _posixsubprocess without an event: those are caught as child processes still alive after the test.
PROCESS_EVENTS = frozenset(
    {"subprocess.Popen", "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.system", "os.exec", "pty.spawn"}
)
_in_fast_test: str | None = None  # the node id of the running test not marked slow


def _refuse_processes_in_fast_tests(event: str, args: tuple) -> None:
    if _in_fast_test is not None and event in PROCESS_EVENTS:
        raise RuntimeError(f"{_in_fast_test} starts a process ({event}) but is not marked slow (@pytest.mark.slow)")


sys.addaudithook(_refuse_processes_in_fast_tests)
# matplotlib lists the system's fonts with fc-list (a process) when it has no font cache: its font manager is loaded
# here, once, before any test (the report's figures are drawn in-process), with the user's cache folder
matplotlib.use("Agg")
matplotlib.font_manager.findfont("DejaVu Sans")


def _children() -> set[int]:
    """The pids of this process's live child processes (Linux: /proc/self/task/*/children)."""
    pids: set[int] = set()
    for children in Path("/proc/self/task").glob("*/children"):
        pids.update(int(pid) for pid in children.read_text().split())
    return pids


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """The fast tier (the README's ``pytest``) runs in this process only: a test that starts a process or a sweep
    must be marked slow, else it fails where it starts one (set-up and teardown included)."""
    global _in_fast_test
    _in_fast_test = None if item.get_closest_marker("slow") else item.nodeid
    try:
        return (yield)
    finally:
        _in_fast_test = None


@pytest.fixture(autouse=True)
def no_child_process_outlives_a_fast_test(request):
    """A fast test leaves no new child process behind (e.g. joblib's loky workers, which start without an audit
    event)."""
    if request.node.get_closest_marker("slow"):
        yield
        return
    before = _children()
    yield
    started = _children() - before
    assert not started, f"{request.node.nodeid} started processes {sorted(started)} but is not marked slow"


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    """Downloads and array caches of the tests go to a folder of their own, never the user's cache."""
    folder = tmp_path_factory.mktemp("cache")
    patcher = pytest.MonkeyPatch()
    patcher.setenv("NNEXP_CACHE_DIR", str(folder))
    patcher.setenv("XDG_CACHE_HOME", str(folder))
    yield folder
    patcher.undo()


@pytest.fixture
def idx_dataset(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    folder = tmp_path / "idx"
    return folder, make_idx_dataset(folder)


class _QuietHandler(SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def http_server(tmp_path: Path):
    """A file server on 127.0.0.1 serving ``<tmp>/served``; yields (base_url, folder, requested paths)."""
    folder = tmp_path / "served"
    folder.mkdir()
    requests: list[str] = []
    handler = type("Handler", (_QuietHandler,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", folder, requests
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def compose_config():
    """Compose the project's config (as ``python -m nnexp.run`` would) with the given overrides."""
    register_configs()

    def _compose(overrides: list[str] = (), hydra: bool = False):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF_DIR), **COMPOSE_OPTIONS):
            return compose("config", overrides=list(overrides), return_hydra_config=hydra)

    yield _compose
    GlobalHydra.instance().clear()


@dataclass(frozen=True)
class SharedSweep:
    """The finished sweep: ``python -m nnexp.run -m SHARED_GRID ...`` run in ``root``. Read it, never write into it."""

    root: Path
    done: subprocess.CompletedProcess

    @property
    def output(self) -> str:
        return self.done.stdout + self.done.stderr

    @property
    def sweep_dir(self) -> Path:
        return self.root / "multirun/grid"

    @property
    def report_dir(self) -> Path:
        return self.sweep_dir / "report"


@pytest.fixture(scope="session")
def shared_sweep(tmp_path_factory) -> SharedSweep:
    """A real 16-run sweep on digits (2 joblib workers, 3 epochs), its report drawn at the end; once a session."""
    root = tmp_path_factory.mktemp("shared_sweep")
    overrides = [
        "data=digits",
        "epochs=3",
        "hydra.sweep.dir=multirun/grid",
        "hydra.launcher.n_jobs=2",
        LAUNCHER_VERBOSE,
    ]
    done = run_nnexp(["-m", *SHARED_GRID, *overrides], root)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return SharedSweep(root, done)
