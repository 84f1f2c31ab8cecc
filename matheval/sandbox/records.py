"""The sandbox's public records: limits, results, and the names of its isolation layers."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError

DEFAULT_PRELOAD = ("math", "cmath", "fractions", "decimal", "itertools", "functools", "collections",
                   "statistics", "random", "re", "numpy", "sympy")
"""Modules a pool's zygote imports once, so that programs find them already loaded. They (and what they
import, e.g. mpmath) are also all that programs can import beyond the standard library."""

LAYERS = ("process_group", "rlimits", "uid_switch", "user_namespace", "network_namespace", "ipc_namespace",
          "mount_namespace", "landlock", "seccomp", "cgroup_memory", "no_new_privs", "audit_hook")

LAYER_LOSS = {
    "uid_switch": "programs keep root's uid (file permissions do not bind them)",
    "user_namespace": "without root, no network, IPC or mount namespace can be built",
    "network_namespace": "networking is refused only by seccomp and Landlock",
    "ipc_namespace": "System V and POSIX IPC are refused only by seccomp",
    "mount_namespace": "the host's files are hidden only by Landlock (their names and sizes stay visible)",
    "landlock": "reads and writes are confined only by the mount namespace and file permissions",
    "seccomp": "raw system calls (IPC, memfd, locks, sockets) are not filtered",
    "cgroup_memory": "memory is limited by RLIMIT_AS; memfd and IPC memory are refused by seccomp instead",
    "no_new_privs": "seccomp and Landlock cannot be installed",
}
"""What a program could do more where a layer is missing (shown by `matheval check`)."""


def applicable_layers(is_root: bool) -> tuple[str, ...]:
    """Root switches uid and needs no user namespace; other users cannot switch uid and need one."""
    return tuple(name for name in LAYERS if name != ("user_namespace" if is_root else "uid_switch"))


@dataclass
class SandboxLimits:
    """Per-program limits. memory_mb is what the program may allocate on top of the interpreter and the
    pre-imported modules; max_file_bytes caps each file and, where the private tmpfs exists, all files."""

    wall_seconds: float = 10.0
    cpu_seconds: float = 10.0
    memory_mb: int = 512
    max_output_bytes: int = 64_000
    max_file_bytes: int = 10_000_000

    def checked(self) -> SandboxLimits:
        for name in ("wall_seconds", "cpu_seconds", "memory_mb"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise UserError(f"sandbox limit {name} must be a positive number (got {value!r})")
        for name in ("max_output_bytes", "max_file_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise UserError(f"sandbox limit {name} must be a non-negative integer (got {value!r})")
        return self


@dataclass
class SandboxResult:
    """What a program did. stdout and stderr are valid Unicode whatever bytes the program wrote.

    error is None when the program exited 0, else one printable line decided by the sandbox from what it
    observed: "time limit 10s exceeded", "cpu time limit 10s exceeded", "memory limit exceeded" (the
    cgroup's OOM killer, where there is one), "killed by signal SIGSEGV", "cancelled", "sandbox ...", or
    "exit code N" followed by ": " and the program's own last line of stderr (its exception, in its words)."""

    stdout: str
    stderr: str
    exit_code: int | None
    timed_out: bool
    error: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and self.error is None


class SandboxViolation(PermissionError):
    """Raised inside a program by the audit hook when it tries something the sandbox forbids."""


SandboxViolation.__module__ = "builtins"  # tracebacks then say "SandboxViolation: blocked: ..."
