"""The memory a process's control group (a container's, a SLURM job's) still lets it use, under cgroup v2 or v1.

A limit set on a cgroup bounds every cgroup below it, so the headroom is the smallest one of the process's own
cgroup and of each cgroup above it that is visible (in a container, the mount's root is the container's own):
``memory.max`` minus ``memory.current`` (v2; ``max``: no limit), or ``memory/…/memory.limit_in_bytes`` minus
``memory.usage_in_bytes`` (v1; a huge value: no limit). The usage counts the file cache the kernel reclaims
before it runs out, the inactive part of which (``memory.stat``) is not counted here: Kubernetes' working set.
"""

from __future__ import annotations

from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
OWN_CGROUPS = Path("/proc/self/cgroup")  # this process's cgroup in each hierarchy: "0::/path" (v2), "4:memory:/path"
V1_UNLIMITED = 2**62  # v1 writes no limit as the largest page-aligned signed 64-bit number (9223372036854771712)

# per version: the folder of the memory controller in the root, the files of limit and usage, the inactive cache
V2 = ("", "memory.max", "memory.current", "inactive_file")
V1 = ("memory", "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def own_paths(own_cgroups: Path = OWN_CGROUPS) -> dict[str, str]:
    """This process's cgroup path in the v2 hierarchy (key ``""``) and in v1's memory hierarchy (``"memory"``)."""
    paths = {}
    for line in (_read(own_cgroups) or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and parts[:2] == ["0", ""]:
            paths[""] = parts[2]
        elif len(parts) == 3 and "memory" in parts[1].split(","):
            paths["memory"] = parts[2]
    return paths


def _inactive_cache(folder: Path, key: str) -> int:
    for line in (_read(folder / "memory.stat") or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.isdigit():
            return int(value)
    return 0


def _headroom(folder: Path, limit_file: str, usage_file: str, cache_key: str) -> int | None:
    """What the limit of the cgroup ``folder`` leaves unused, in bytes; None without a limit there."""
    limit, usage = _read(folder / limit_file), _read(folder / usage_file)
    if limit is None or usage is None or not limit.isdigit() or not usage.isdigit() or int(limit) >= V1_UNLIMITED:
        return None  # "max" (v2), a huge value (v1), no such files (the root cgroup, another version)
    return max(int(limit) - max(int(usage) - _inactive_cache(folder, cache_key), 0), 0)


def cgroup_headroom(root: Path = CGROUP_ROOT, own_cgroups: Path = OWN_CGROUPS) -> int | None:
    """Bytes this process's cgroups let it use before their memory limit, the smallest over v2's and v1's memory
    hierarchies mounted at ``root``: its own cgroup and those above it, up to ``root``; None without any limit."""
    own = own_paths(own_cgroups)
    headrooms = []
    for controller, *files in (V2, V1):
        top = root / controller
        cgroup = top / own.get(controller, "").lstrip("/")
        while True:  # its own cgroup (not there when the mount's root is the container's), then each one above it
            headroom = _headroom(cgroup, *files)
            if headroom is not None:
                headrooms.append(headroom)
            if cgroup == top or not cgroup.is_relative_to(top):
                break
            cgroup = cgroup.parent
    return min(headrooms, default=None)
