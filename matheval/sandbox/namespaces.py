"""Namespaces: the program's own network (none), IPC objects, and filesystem.

The mount namespace gets a new root holding only the read view (readview.py), read-only, and a
size-capped tmpfs as the working directory: nothing else of the host's filesystem exists for the program
(no project tree, no data, no /proc), so it can neither read nor lock it. The IPC namespace holds the
program's System V and POSIX IPC objects and is destroyed with it. Root unshares directly; other users
first unshare a user namespace that maps only their own uid, which grants the right to build the rest
(the capabilities it gives are dropped before the program runs)."""

from __future__ import annotations

import os
import struct
import ctypes

from .libc import (CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWUSER, MNT_DETACH, MS_BIND, MS_NODEV,
                   MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, mount, pivot_root, syscall,
                   try_write, umount, unshare)

_KINDS = (("mount", CLONE_NEWNS, "mount_namespace"), ("net", CLONE_NEWNET, "network_namespace"),
          ("ipc", CLONE_NEWIPC, "ipc_namespace"))


def enter(is_root: bool, disabled: set[str]) -> set[str]:
    """Unshare what this machine allows (and `disabled`, layer names, does not exclude); returns the
    namespaces entered: "user", "mount", "net", "ipc"."""
    entered = set()
    if not is_root:
        uid, gid = os.getuid(), os.getgid()
        if not unshare(CLONE_NEWUSER):
            return entered
        if not (try_write("/proc/self/setgroups", "deny") and try_write("/proc/self/uid_map", f"{uid} {uid} 1")
                and try_write("/proc/self/gid_map", f"{gid} {gid} 1")):
            return entered
        entered.add("user")
    for name, flag, layer in _KINDS:
        if layer not in disabled and unshare(flag):
            entered.add(name)
    return entered


_MOUNT_OPTION_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": 1024,
                       "nodiratime": 2048, "relatime": 1 << 21, "strictatime": 1 << 24}
_AT_FDCWD, _AT_RECURSIVE, _MOUNT_ATTR_RDONLY = -100, 0x8000, 1


def make_read_only(path: str) -> None:
    """Make the mount at `path` and every mount below it read-only (in our own mount namespace).

    mount_setattr (Linux 5.12) does it in one call and leaves the other flags alone. Older kernels get a
    remount per mount, restating the nosuid/nodev/noexec/atime flags that a user namespace may not clear."""
    attr = struct.pack("QQQQ", _MOUNT_ATTR_RDONLY, 0, 0, 0)  # struct mount_attr
    long = ctypes.c_long
    if syscall("mount_setattr", long(_AT_FDCWD), path.encode(), long(_AT_RECURSIVE), ctypes.c_char_p(attr),
               long(len(attr))) == 0:
        return
    inside = path.rstrip("/") + "/"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")  # \040 -> space
            if point == path or point.startswith(inside):
                keep = sum(_MOUNT_OPTION_FLAGS.get(option, 0) for option in fields[5].split(","))
                try:
                    mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | keep)
                except OSError:
                    if point == path:
                        raise  # others may be shadowed by a mount on top: unreachable anyway


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip("/") + "/")


def _outermost(dirs: list[str], hidden: list[str]) -> list[str]:
    """Folders not already visible through another bind (a folder inside a hidden one must be bound)."""
    return [d for d in dirs if not any(_inside(d, other) and not any(_inside(d, h) for h in hidden)
                                       for other in dirs)]


def _depth(path: str) -> int:
    return path.rstrip("/").count("/")


def _ensure(target: str, is_dir: bool) -> None:
    if os.path.lexists(target):
        return
    os.makedirs(target if is_dir else os.path.dirname(target), mode=0o755, exist_ok=True)
    if not is_dir:
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))


def enter_view(view: dict, workdir: str, scratch_bytes: int, owner: int | None) -> None:
    """Replace the root by the read view plus a fresh tmpfs at `workdir`, then chdir there.

    Built on a tmpfs mounted over the (empty) host directory `workdir`: bind mounts of each readable
    folder and file at its own path, empty tmpfs over hidden folders, the pool's folder bound without its
    sub-mounts (other programs' directories are empty placeholders there), everything made read-only,
    then the scratch tmpfs, and pivot_root into it; the old root is detached."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we do here leaks out, or in
    new_root = workdir
    mount("tmpfs", new_root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=4096,mode=755")
    steps = [(p, "dir") for p in _outermost(view["dirs"], view["hidden"])]
    steps += [(p, "hide") for p in view["hidden"]] + [(p, "file") for p in view["files"]]
    if view.get("scratch_root"):
        steps.append((view["scratch_root"], "scratch_root"))
    for path, kind in sorted(steps, key=lambda step: (_depth(step[0]), step[0])):
        target = new_root + path
        _ensure(target, is_dir=kind != "file")
        if kind == "hide":
            mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,nr_inodes=64,mode=755")
        elif kind == "scratch_root":  # not recursive: our own new root is mounted below it
            mount(path, target, None, MS_BIND)
        else:
            mount(path, target, None, MS_BIND | MS_REC)
    make_read_only(new_root)
    scratch = new_root + workdir
    _ensure(scratch, is_dir=True)
    mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
          f"size={max(scratch_bytes, 65_536)},nr_inodes=10000,mode=700")
    if owner is not None:
        os.chown(scratch, owner, owner)
    os.chdir(new_root)
    pivot_root(".", ".")  # the old root now sits on top of the new one, at "/"
    umount(".", MNT_DETACH)
    os.chdir(workdir)
