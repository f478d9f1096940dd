"""The wheel as the project builds it: without a warning from the build, and with every file a user's install needs
(the configs, the published tables, the Hydra launcher plugin, the licence)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from importlib import metadata

import pytest
from packaging.requirements import Requirement

from tests.conftest import CONF_DIR, ROOT
from tests.test_install import PYPROJECT

# A warning of the build backend (setuptools, distutils) as pip shows it ("SetuptoolsDeprecationWarning: ...",
# "_Warning: Package 'nnexp.conf.data' is absent ...", "warning: build_py: ...") and as build does ("WARNING ...")
WARNING = re.compile(r"warning[:\s]", re.IGNORECASE)
BUILDERS = {
    "pip wheel": ["-m", "pip", "wheel", "--verbose", "--no-deps", "--no-build-isolation", "--wheel-dir"],
    "python -m build": ["-m", "build", "--no-isolation", "--outdir"],
}


@pytest.fixture(scope="module", params=list(BUILDERS))
def built(request, tmp_path_factory) -> tuple[zipfile.ZipFile, str]:
    """The wheel each front end builds from the source tree (``python -m build``: from its sdist), and what it printed.

    With this environment's setuptools (the test extra's meets the build requirement): nothing is downloaded, so all
    that is printed is the build's. Without PYTHONDONTWRITEBYTECODE, under which distutils says that it skips
    byte-compiling (which a wheel build never does): a message of the environment, not of the project."""
    (required,) = [Requirement(r) for r in PYPROJECT["build-system"]["requires"] if r.startswith("setuptools")]
    assert metadata.version("setuptools") in required.specifier, "the test extra's setuptools builds without download"
    out = tmp_path_factory.mktemp("wheel")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    command = [sys.executable, *BUILDERS[request.param], str(out), str(ROOT)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=out, env=env)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    (wheel,) = out.glob("*.whl")
    return zipfile.ZipFile(wheel), output


@pytest.mark.slow
def test_the_build_prints_no_warning(built) -> None:
    _, output = built
    assert [line.strip() for line in output.splitlines() if WARNING.search(line)] == []


@pytest.mark.slow
def test_the_wheel_ships_every_config_table_and_the_launcher_plugin(built) -> None:
    wheel, _ = built
    names = set(wheel.namelist())
    configs = {f"nnexp/conf/{p.relative_to(CONF_DIR).as_posix()}" for p in CONF_DIR.rglob("*.yaml")}
    assert configs <= names and "nnexp/conf/hydra/help/nnexp.yaml" in configs  # each config group's folder
    published = {f"nnexp/experiments/{p.name}" for p in (ROOT / "experiments").iterdir() if p.suffix in (".csv", ".md")}
    assert published <= names and "nnexp/experiments/000_table1_test_accuracy.csv" in published
    launcher = ROOT / "nnexp" / "sweep" / "launcher"
    plugin = {f"hydra_plugins/nnexp_launcher/{p.name}" for p in launcher.glob("*.py")}
    assert plugin <= names and "hydra_plugins/nnexp_launcher/ordered_joblib.py" in plugin
    code = {p.relative_to(ROOT).as_posix() for p in (ROOT / "nnexp").rglob("*.py") if launcher not in p.parents}
    assert code <= names and "nnexp/bench/reference_app/config.yaml" in names
    assert not [name for name in names if name.startswith(("conf/", "experiments/", "tests/", "nnexp/sweep/launcher"))]


@pytest.mark.slow
def test_the_wheel_declares_its_licence_scripts_and_plugins(built) -> None:
    wheel, _ = built
    (dist_info,) = {name.split("/")[0] for name in wheel.namelist() if ".dist-info/" in name}
    meta = Parser().parsestr(wheel.read(f"{dist_info}/METADATA").decode())
    assert meta["License-Expression"] == "MIT" and meta.get_all("License-File") == ["LICENSE"]
    assert meta["License"] is None  # the deprecated free-text field is gone
    assert wheel.read(f"{dist_info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
    required = [Requirement(r) for r in meta.get_all("Requires-Dist") if "extra ==" not in r]
    assert list(map(str, required)) == [str(Requirement(r)) for r in PYPROJECT["project"]["dependencies"]]
    entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
    for script, target in PYPROJECT["project"]["scripts"].items():
        assert f"{script} = {target}" in entry_points
    assert "nnexp_joblib_launcher = hydra_plugins.nnexp_launcher.ordered_joblib:OrderedJoblibLauncher" in entry_points
