"""cgroup v2 memory limits: every page a program holds counts (tmpfs, memfd, IPC, page tables), not
just its address space. Used where the zygote runs as root on a unified hierarchy whose root delegates
the memory controller; each program gets its own group, removed when it is reaped.

The zygote keeps its groups in /sys/fs/cgroup/matheval-sandbox-<zygote pid>/ (a folder that holds no
process, as cgroup v2 requires of a folder that hands out controllers); folders of zygotes that no longer
exist are removed at start."""

from __future__ import annotations

import glob
import os

ROOT = "/sys/fs/cgroup"
SLACK_BYTES = 64 * 2**20
"""On top of the program's memory_mb: the zygote's pages that the child copies when it writes to them."""


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _remove(folder: str) -> None:
    for child in glob.glob(os.path.join(folder, "*/")):
        _remove(child.rstrip("/"))
    try:
        os.rmdir(folder)
    except OSError:
        pass


class MemoryCgroups:
    def __init__(self, base: str):
        self.base = base

    @classmethod
    def open(cls) -> MemoryCgroups | None:
        """None where this machine (or this user) cannot limit memory by cgroup."""
        try:
            if os.geteuid() != 0 or "memory" not in _read(f"{ROOT}/cgroup.subtree_control").split():
                return None
            for stale in glob.glob(f"{ROOT}/matheval-sandbox-*"):
                pid = stale.rsplit("-", 1)[-1]
                if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                    _remove(stale)
            base = f"{ROOT}/matheval-sandbox-{os.getpid()}"
            os.makedirs(base, exist_ok=True)
            _write(f"{base}/cgroup.subtree_control", "+memory")
            return cls(base)
        except OSError:
            return None

    def create(self, name: str, memory_mb: int) -> str | None:
        path = os.path.join(self.base, name)
        try:
            os.mkdir(path)
            _write(f"{path}/memory.max", str(memory_mb * 2**20 + SLACK_BYTES))
            if os.path.exists(f"{path}/memory.swap.max"):
                _write(f"{path}/memory.swap.max", "0")
            return path
        except OSError:
            _remove(path)
            return None

    @staticmethod
    def oom_kills(path: str) -> int:
        try:
            for line in _read(f"{path}/memory.events").splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    @staticmethod
    def remove(path: str) -> None:
        _remove(path)

    def close(self) -> None:
        _remove(self.base)


def join(path: str) -> bool:
    """In the child, before it drops privileges: move itself into its group."""
    try:
        _write(f"{path}/cgroup.procs", str(os.getpid()))
        return True
    except OSError:
        return False
