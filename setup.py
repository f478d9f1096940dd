"""setuptools' build script: all settings are in pyproject.toml; this only builds in a temporary folder, so that
``pip install .`` leaves no ``build/`` in the source tree."""

import tempfile

from setuptools import setup

with tempfile.TemporaryDirectory(prefix="nnexp-build-") as build_base:
    setup(options={"build": {"build_base": build_base}})
