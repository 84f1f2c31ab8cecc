"""Namespaces: the program's own user (when not root), network (none) and IPC namespaces.

The IPC namespace holds the program's System V and POSIX IPC objects and is destroyed with it; the
network namespace has only a downed loopback device. Root unshares directly; other users first unshare
a user namespace that maps only their own uid (or join the read view's, mountview.py), which grants the
right to build the rest; the capabilities it gives are dropped before the program runs."""

from __future__ import annotations

import os

from .libc import CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWUSER, try_write, unshare

_KINDS = (("net", CLONE_NEWNET, "network_namespace"), ("ipc", CLONE_NEWIPC, "ipc_namespace"))


def enter_user_namespace() -> bool:
    uid, gid = os.getuid(), os.getgid()
    return (unshare(CLONE_NEWUSER) and try_write("/proc/self/setgroups", "deny")
            and try_write("/proc/self/uid_map", f"{uid} {uid} 1") and try_write("/proc/self/gid_map", f"{gid} {gid} 1"))


def enter(is_root: bool, in_user_namespace: bool, disabled: set[str]) -> set[str]:
    """Unshare what this machine allows (and `disabled`, layer names, does not exclude); returns the
    namespaces entered: "user", "net", "ipc"."""
    entered = {"user"} if in_user_namespace else set()
    if not is_root and not in_user_namespace:
        if not enter_user_namespace():
            return entered
        entered.add("user")
    for name, flag, layer in _KINDS:
        if layer not in disabled and unshare(flag):
            entered.add(name)
    return entered
