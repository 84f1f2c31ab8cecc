"""Resource limits and the switch to a uid that owns nothing (when the zygote runs as root)."""

from __future__ import annotations

import math
import os
import resource

from .libc import has_capabilities

SANDBOX_UID_BASE = 0x7A000000
"""Root runs each program as uid SANDBOX_UID_BASE + its pid: unique among live processes, owning no file,
inside a range (0x70000000-0x7FFFFFFF) that systemd documents as unused."""


def address_space_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def set_rlimits(limits: dict, baseline: int) -> bool:
    """RLIMIT_NPROC=0 goes first: a later setuid then also marks the process so that execve fails."""
    cpu = max(1, math.ceil(limits["cpu_seconds"]))
    memory = baseline + limits["memory_mb"] * 2**20
    wanted = [
        (resource.RLIMIT_NPROC, 0, 0),
        (resource.RLIMIT_AS, memory, memory),
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_FSIZE, limits["max_file_bytes"], limits["max_file_bytes"]),
        (resource.RLIMIT_NOFILE, 256, 256),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_MSGQUEUE, 0, 0),  # POSIX message queues: none, even where mq_open is not filtered
    ]
    ok = True
    for which, soft, hard in wanted:
        try:
            _, current_hard = resource.getrlimit(which)
            if current_hard != resource.RLIM_INFINITY:
                soft, hard = min(soft, current_hard), min(hard, current_hard)
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):
            ok = False
    return ok


def switch_uid(uid: int) -> bool:
    """Root becomes a uid that owns nothing; the kernel clears all capabilities on the way. (A root
    without CAP_SETUID, as in some containers, stays root: the layer is then reported missing.)"""
    try:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    except OSError:
        return False
    return os.getresuid() == (uid, uid, uid) and not has_capabilities()
