"""OmegaConf resolvers, registered through the API of the installed OmegaConf (and how versions are compared)."""

from __future__ import annotations

from collections.abc import Callable

import omegaconf
from omegaconf import OmegaConf


def version_at_least(version: str, major: int, minor: int) -> bool:
    """Whether a package's ``version`` ("1.4.0rc3", "2.3.1") is ``major.minor`` or later."""
    return tuple(int(part) for part in version.split(".")[:2]) >= (major, minor)


# OmegaConf 2.4 renames register_new_resolver (2.3's register_resolver is the legacy, string-only one)
_NEW_API = version_at_least(omegaconf.__version__, 2, 4)


def add_resolver(name: str, resolver: Callable[..., object], use_cache: bool = False) -> None:
    """Make ``${name:...}`` call ``resolver`` (replacing an earlier one of that name)."""
    register = OmegaConf.register_resolver if _NEW_API else OmegaConf.register_new_resolver
    register(name, resolver, replace=True, use_cache=use_cache)
