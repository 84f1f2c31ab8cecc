"""seccomp: a deny-list filter on system calls, installed last, so it binds native code too.

Refused (EPERM): new processes and threads, exec, sockets, tracing and reading other processes, mounts
and namespaces, kernel modules, BPF, io_uring, keyrings; System V and POSIX IPC (objects that outlive the
program); memfd_create (memory that RLIMIT_AS does not count); flock and fcntl's record locks and leases
(locks that stall the host's writers) and pipe resizing. Signals may go only to the program's own pid.
"""

from __future__ import annotations

import ctypes
import errno
import struct

from .libc import MACHINE, PR_SET_SECCOMP, SYSCALLS, libc

SIGNAL_CALLS = ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")
"""Allowed only when the first argument (pid, tgid or tid) is the program's own pid."""

ALLOWED = {"fcntl", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self", *SIGNAL_CALLS}
DENIED = tuple(name for name in SYSCALLS if name not in ALLOWED)

F_SETLK, F_SETLKW, F_OFD_SETLK, F_OFD_SETLKW, F_SETLEASE, F_SETPIPE_SZ = 6, 7, 37, 38, 1024, 1031
REFUSED_FCNTL = (F_SETLK, F_SETLKW, F_OFD_SETLK, F_OFD_SETLKW, F_SETLEASE, F_SETPIPE_SZ)

_AUDIT_ARCH = {"x86_64": (0, 0xC000003E), "aarch64": (1, 0xC00000B7)}
_ALLOW, _DENY, _KILL = 0x7FFF0000, 0x00050000 | errno.EPERM, 0x80000000
_LOAD, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06
_NR, _ARCH = 0, 4


def _arg(index: int) -> int:
    return 16 + 8 * index  # offset of the argument's low 32 bits in struct seccomp_data (little endian)


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def build_filter(machine: str, own_pid: int) -> bytes | None:
    """The classic-BPF program: wrong architecture -> kill; denied calls -> EPERM; else allow."""
    if machine not in _AUDIT_ARCH:
        return None
    column, arch = _AUDIT_ARCH[machine]
    program = [_op(_LOAD, _ARCH), _op(_JEQ, arch, 1, 0), _op(_RET, _KILL), _op(_LOAD, _NR)]
    if machine == "x86_64":  # x32 system calls would slip past the numbers below
        program += [_op(_JGE, 0x40000000, 0, 1), _op(_RET, _DENY)]
    for name in DENIED:
        number = SYSCALLS[name][column]
        if number is not None:
            program += [_op(_JEQ, number, 0, 1), _op(_RET, _DENY)]
    for name in SIGNAL_CALLS:  # if nr == call: allow if and only if arg0 == own pid
        program += [_op(_JEQ, SYSCALLS[name][column], 0, 4), _op(_LOAD, _arg(0)), _op(_JEQ, own_pid, 0, 1),
                    _op(_RET, _ALLOW), _op(_RET, _DENY)]
    checks = [_op(_LOAD, _arg(1))]
    for command in REFUSED_FCNTL:
        checks += [_op(_JEQ, command, 0, 1), _op(_RET, _DENY)]
    checks.append(_op(_RET, _ALLOW))
    program += [_op(_JEQ, SYSCALLS["fcntl"][column], 0, len(checks)), *checks]
    program.append(_op(_RET, _ALLOW))
    return b"".join(program)


def install(own_pid: int) -> bool:
    """Needs no_new_privs (or CAP_SYS_ADMIN). Returns whether the filter is on."""
    program = build_filter(MACHINE, own_pid)
    if program is None:
        return False

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

    fprog = SockFprog(len(program) // 8, program)
    ulong = ctypes.c_ulong
    return libc().prctl(PR_SET_SECCOMP, ulong(2), ctypes.byref(fprog), ulong(0), ulong(0)) == 0
