"""Landlock: what the program may read and write, which TCP ports and signals it may use; unprivileged.

Two layers, intersected by the kernel. The read layer, built once in the zygote (its rules hold inodes,
so it can be reused by every fork): reading files only beneath the read view (readview.py) and the
pool's folder of working directories. The write layer, built by each child: writing only in its own working
directory (and /dev/null), no execution, no TCP, and (ABI 6) no signals or abstract sockets outside the
sandbox."""

from __future__ import annotations

import ctypes
import fcntl
import os
import struct

from .libc import syscall

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REFER, TRUNCATE = 1 << 13, 1 << 14
_WRITE_RIGHTS = sum(1 << bit for bit in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))  # write, remove, make*
_PATH_BENEATH = 1
_CREATE_RULESET_VERSION = 1
_long = ctypes.c_long


def abi_version() -> int:
    """0 where the kernel has no Landlock (or it is disabled)."""
    return max(0, syscall("landlock_create_ruleset", None, _long(0), _long(_CREATE_RULESET_VERSION)))


def _ruleset(fs: int, net: int = 0, scoped: int = 0, abi: int = 1) -> int:
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    attr = ctypes.create_string_buffer(struct.pack("QQQ", fs, net, scoped)[:size], size)
    return syscall("landlock_create_ruleset", attr, _long(size), _long(0))


def _add(ruleset: int, path: str, rights: int) -> bool:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return True  # gone since the view was computed: nothing to grant
    try:
        rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd), 12)
        return syscall("landlock_add_rule", _long(ruleset), _long(_PATH_BENEATH), rule, _long(0)) == 0
    finally:
        os.close(fd)


def read_ruleset(grants: list[str], abi: int) -> int | None:
    """In the zygote: the read layer's ruleset (a descriptor the children apply), or None.

    It handles reading files only: listing a folder's names stays allowed (the import system lists the
    site-packages folder; in the mount namespace only the read view's names exist anyway)."""
    if abi < 1:
        return None
    ruleset = _ruleset(READ_FILE)
    if ruleset < 0:
        return None
    for path in grants:
        if not _add(ruleset, path, READ_FILE):
            os.close(ruleset)
            return None
    high = fcntl.fcntl(ruleset, fcntl.F_DUPFD_CLOEXEC, 10)  # clear of the child's descriptors 0-4
    os.close(ruleset)
    return high


def restrict(workdir: str, read_ruleset_fd: int | None, abi: int) -> bool:
    """In the child (after no_new_privs): both layers, or False if either could not be applied."""
    if abi < 1 or read_ruleset_fd is None:
        return False
    if syscall("landlock_restrict_self", _long(read_ruleset_fd), _long(0)) != 0:
        return False
    handled = EXECUTE | _WRITE_RIGHTS | (REFER if abi >= 2 else 0) | (TRUNCATE if abi >= 3 else 0)
    net = 0b11 if abi >= 4 else 0  # bind and connect TCP: no rule grants them
    scoped = 0b11 if abi >= 6 else 0  # abstract unix sockets and signals outside the sandbox
    ruleset = _ruleset(handled, net, scoped, abi)
    if ruleset < 0:
        return False
    try:
        if not (_add(ruleset, workdir, handled & ~EXECUTE) and
                _add(ruleset, os.devnull, handled & (WRITE_FILE | TRUNCATE))):
            return False
        return syscall("landlock_restrict_self", _long(ruleset), _long(0)) == 0
    finally:
        os.close(ruleset)
