"""Run model-written Python in a throwaway, locked-down process (threat model and layers: docs/sandbox.md).

Code-executing agents run programs that a language model wrote, so every program is treated as hostile.
Each one runs in a fresh fork of a warm "zygote" interpreter, locked down by the operating system
before its first line (namespaces, a read view of only Python and the allowed packages, Landlock,
seccomp, resource and cgroup limits, a uid of its own), and is discarded after. The modules, one job
each:

    pool.py        SandboxPool, run_python, sandbox_capabilities: the API the agents use
    client.py      the pool's side of the zygote: descriptors, output, one I/O thread
    verdict.py     how a program ended, decided from what the pool observed; sanitized text
    protocol.py    the pool <-> zygote messages (descriptors attached, no program bytes)
    zygote.py      the fork server: preloads, forks, enforces the wall clock, reaps
    child.py       a fork's way from the zygote's state to a locked-down program
    program.py     running the program itself (exec, traceback)
    readview.py    what a program may read
    namespaces.py  user, network and IPC namespaces
    mountview.py   the mount namespace: a root holding only the read view, built once per zygote
    landlock.py    Landlock read and write layers
    seccomp.py     the system-call filter
    limits.py      rlimits and the uid switch
    cgroup.py      cgroup v2 memory limits
    audithook.py   Python-level refusals with clear messages (a courtesy, not a wall)
    libc.py        the system calls Python's os module lacks
"""

from .pool import SandboxPool, run_python, sandbox_capabilities
from .records import (DEFAULT_PRELOAD, LAYER_LOSS, LAYERS, SandboxLimits, SandboxResult, SandboxViolation,
                      applicable_layers)

__all__ = [
    "DEFAULT_PRELOAD",
    "LAYERS",
    "LAYER_LOSS",
    "SandboxLimits",
    "SandboxPool",
    "SandboxResult",
    "SandboxViolation",
    "applicable_layers",
    "run_python",
    "sandbox_capabilities",
]
