"""The memory a sweep may count on honours a container's limit: cgroup v2 and v1 files, written as the kernel shows
them into a folder that stands for /sys/fs/cgroup, with /proc/self/cgroup and /proc/meminfo beside them."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnexp.errors import ConfigError
from nnexp.results.plan_file import MemoryEstimate
from nnexp.training.cgroup import cgroup_headroom, own_paths
from nnexp.training.memory import available_memory, check_fits

GIB = 2**30
V1_NO_LIMIT = "9223372036854771712"  # what v1's memory.limit_in_bytes holds when no limit is set


def write(folder: Path, **files: str) -> None:
    """Files of a cgroup's folder, named as the kernel names them (``memory_max`` for ``memory.max``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name.replace("_", ".", 1)).write_text(f"{text}\n")


@pytest.fixture
def proc(tmp_path) -> dict[str, Path]:
    """A cgroup mount, this process's cgroups (v2 at the mount's root, as in a container) and 8 GiB MemAvailable."""
    (tmp_path / "meminfo").write_text(f"MemTotal:       16000000 kB\nMemAvailable:   {8 * GIB // 1024} kB\n")
    (tmp_path / "cgroup").write_text("0::/\n")
    return {"cgroup_root": tmp_path / "fs", "meminfo": tmp_path / "meminfo", "own_cgroups": tmp_path / "cgroup"}


def test_a_v2_limit_leaves_its_headroom_without_the_inactive_file_cache(proc) -> None:
    write(proc["cgroup_root"], memory_max=str(2 * GIB), memory_current=str(GIB // 2))
    assert available_memory(**proc) == 2 * GIB - GIB // 2
    write(proc["cgroup_root"], memory_stat=f"anon 1000\nfile 400\ninactive_file {GIB // 4}\nactive_file 0")
    assert available_memory(**proc) == 2 * GIB - GIB // 4  # the cache the kernel reclaims first is not in use


def test_v2_max_is_no_limit(proc) -> None:
    write(proc["cgroup_root"], memory_max="max", memory_current=str(5 * GIB))
    assert cgroup_headroom(proc["cgroup_root"], proc["own_cgroups"]) is None
    assert available_memory(**proc) == 8 * GIB


def test_a_limit_above_the_process_own_cgroup_counts(proc) -> None:
    """A host's view: the process in /user.slice/job, no limit there, 1 GiB on the slice above it, no files in the
    root cgroup."""
    proc["own_cgroups"].write_text("0::/user.slice/job\n")
    proc["cgroup_root"].mkdir()
    write(proc["cgroup_root"] / "user.slice" / "job", memory_max="max", memory_current=str(GIB))
    write(proc["cgroup_root"] / "user.slice", memory_max=str(GIB), memory_current=str(GIB // 4))
    assert available_memory(**proc) == GIB - GIB // 4


def test_a_v1_limit_counts_and_a_huge_one_is_no_limit(proc) -> None:
    """Docker on v1: /proc/self/cgroup names the container's path, the mount's root is the container's cgroup."""
    proc["own_cgroups"].write_text("12:pids:/docker/abc\n4:memory:/docker/abc\n0::/\n")
    memory = proc["cgroup_root"] / "memory"
    write(memory, memory_limit_in_bytes=str(3 * GIB), memory_usage_in_bytes=str(GIB))
    assert own_paths(proc["own_cgroups"]) == {"memory": "/docker/abc", "": "/"}
    assert available_memory(**proc) == 2 * GIB
    write(memory, memory_stat=f"cache 100\ntotal_inactive_file {GIB // 2}")
    assert available_memory(**proc) == 2 * GIB + GIB // 2
    write(memory, memory_limit_in_bytes=V1_NO_LIMIT)
    assert available_memory(**proc) == 8 * GIB


def test_a_cgroup_above_its_limit_leaves_nothing(proc) -> None:
    write(proc["cgroup_root"], memory_max=str(GIB), memory_current=str(GIB + 4096))
    assert available_memory(**proc) == 0


def test_more_headroom_than_the_machine_has_leaves_the_machine_s(proc) -> None:
    write(proc["cgroup_root"], memory_max=str(64 * GIB), memory_current=str(GIB))
    assert available_memory(**proc) == 8 * GIB


def test_no_cgroup_files_leave_mem_available_and_nothing_known_is_none(proc, tmp_path) -> None:
    assert available_memory(**proc) == 8 * GIB  # no cgroup mount at all
    proc["own_cgroups"].unlink()
    write(proc["cgroup_root"], memory_max="garbage", memory_current="")
    assert available_memory(**proc) == 8 * GIB
    assert available_memory(proc["cgroup_root"], tmp_path / "no_meminfo", proc["own_cgroups"]) is None


def test_a_container_limit_refuses_runs_the_machine_would_fit(proc) -> None:
    runs = {"hidden=4096": MemoryEstimate(private=3 * GIB, shared=0)}
    check_fits(runs, at_once=1, available=available_memory(**proc))
    write(proc["cgroup_root"], memory_max=str(2 * GIB), memory_current="0")
    with pytest.raises(ConfigError, match=r"hidden=4096 alone about 3.0 GiB, and 2.0 GiB are available"):
        check_fits(runs, at_once=1, available=available_memory(**proc))
