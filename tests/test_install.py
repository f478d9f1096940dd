"""The project as a user installs it (``pip install .``, not editable): every package, config and published table
ships, and the console scripts work from any folder."""

from __future__ import annotations

import json
import os
import re
import site
import subprocess
import sysconfig
import tomllib
import venv
from importlib import metadata, util
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.conftest import CONF_DIR, ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SCRIPTS = ("nnexp", "nnexp-run", "nnexp-report", "nnexp-predict", "nnexp-reproduce")


def _package(folder: str) -> str:
    """The package a folder of the source tree installs as: ``nnexp/data`` as ``nnexp.data``, ``conf/hydra/help`` as
    ``nnexp.conf.hydra.help`` (pyproject.toml's ``package-dir`` renames)."""
    for name, top in PYPROJECT["tool"]["setuptools"]["package-dir"].items():
        if folder == top or folder.startswith(f"{top}/"):
            return name + folder.removeprefix(top).replace("/", ".")
    return folder.replace("/", ".")


def test_every_package_is_listed() -> None:
    """pyproject.toml's packages are exactly the folders of Python files in nnexp/ and the folders of data installed
    under another name, each subfolder of conf/ too (so a new subpackage or config group cannot be forgotten: setuptools
    would leave it out with a warning)."""
    setuptools = PYPROJECT["tool"]["setuptools"]
    tops = [ROOT / "nnexp", *(ROOT / folder for folder in setuptools["package-dir"].values())]
    folders = {
        path.parent.relative_to(ROOT).as_posix()
        for top in tops
        for path in top.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert sorted(setuptools["packages"]) == sorted({_package(folder) for folder in folders})
    assert set(SCRIPTS) <= set(PYPROJECT["project"]["scripts"])


def _build_options() -> list[str]:
    """``--no-build-isolation`` when this environment's setuptools meets pyproject.toml's build requirement (no
    download); else pip fetches one."""
    (required,) = [Requirement(r) for r in PYPROJECT["build-system"]["requires"] if r.startswith("setuptools")]
    try:
        return ["--no-build-isolation"] if metadata.version("setuptools") in required.specifier else []
    except metadata.PackageNotFoundError:
        return []


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    """A fresh venv with a plain install of the project; its dependencies are this environment's (a .pth file)."""
    env = tmp_path_factory.mktemp("venv")
    if util.find_spec("pip") is None:
        pytest.skip("pip is not installed here")
    try:
        venv.create(env, with_pip=False)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot create a venv: {exc}")
    paths = sysconfig.get_paths(scheme="venv", vars={"base": str(env), "platbase": str(env)})
    Path(paths["purelib"], "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    python = Path(paths["scripts"], "python")
    had_build = (ROOT / "build").exists()
    command = [str(python), "-m", "pip", "install", "--quiet", "--no-deps", *_build_options(), str(ROOT)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert had_build or not (ROOT / "build").exists(), "pip install . left build/ in the source tree"
    return {"python": python, "scripts": Path(paths["scripts"]), "site": Path(paths["purelib"]).resolve()}


def _run(command: list, cwd: Path) -> subprocess.CompletedProcess:
    """``command`` in ``cwd``, output captured, with nothing on PYTHONPATH that could shadow the installed copy."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


@pytest.mark.slow
def test_the_installed_copy_ships_every_config_and_table(installed, tmp_path) -> None:
    code = "import nnexp.resources as r; print(r.__file__); print(r.CONFIG_DIR); print(r.PUBLISHED_DIR)"
    done = _run([installed["python"], "-c", code], tmp_path)
    module, conf, published = map(Path, done.stdout.split())
    assert done.returncode == 0 and module.is_relative_to(installed["site"])  # not the checkout: no editable finder
    assert conf == installed["site"] / "nnexp" / "conf" and published == installed["site"] / "nnexp" / "experiments"
    shipped = {p.relative_to(conf) for p in conf.rglob("*.yaml")}
    assert shipped == {p.relative_to(CONF_DIR) for p in CONF_DIR.rglob("*.yaml")}  # every config group's folder
    assert {p.name for p in published.glob("*.csv")} == {p.name for p in (ROOT / "experiments").glob("*.csv")}


@pytest.mark.slow
def test_the_console_script_runs_a_sweep_in_the_current_folder(installed, tmp_path) -> None:
    done = _run([installed["scripts"] / "nnexp-run", "-m", "data=digits", "hidden=8,16", "epochs=1"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summaries = sorted(tmp_path.glob("multirun/*/*/summary.json"))
    assert [p.parent.name for p in summaries] == ["data=digits,epochs=1,hidden=16", "data=digits,epochs=1,hidden=8"]
    assert all(json.loads(p.read_text())["status"] == "completed" for p in summaries)
    assert all((p.parent / "metrics.csv").is_file() for p in summaries)
    # the console of a tool: its results on stdout (a line per run, the outcome, where the report is), the plan on
    # stderr (the folder named by the command)
    lines = done.stdout.splitlines()
    assert done.stderr.splitlines() == ["sweep of 2 runs into multirun/data=digits,epochs=1,hidden=8,16"]
    assert len(lines) == 4, done.stdout
    assert all(
        re.match(r"run [12]/2 completed: data=digits,epochs=1,hidden=(8|16) — test accuracy", x) for x in lines[:2]
    )
    assert lines[2] == "sweep done: 2 completed" and re.fullmatch(r"report: multirun/.+/index\.html \(.+\)", lines[3])
    quiet = _run([installed["scripts"] / "nnexp-run", "-q", "-m", "data=digits", "hidden=8,16", "epochs=2"], tmp_path)
    assert quiet.returncode == 0 and quiet.stdout == quiet.stderr == "", quiet.stdout + quiet.stderr


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_every_console_script_answers_help(installed, tmp_path, script) -> None:
    done = _run([installed["scripts"] / script, "--help"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_every_console_script_prints_the_installed_version(installed, tmp_path, script) -> None:
    done = _run([installed["scripts"] / script, "--version"], tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"nnexp {PYPROJECT['project']['version']}\n", "")
