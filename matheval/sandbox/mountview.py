"""The mount namespace: a root that holds only the read view, built once, joined by every program.

The zygote builds it once, in a helper process: a tmpfs holding bind mounts of each readable folder and
file (readview.py) at its own path, empty tmpfs over hidden folders, the pool's folder of working
directories bound without its sub-mounts, everything read-only, then pivot_root into it. Descriptors on
the helper's namespaces keep them alive after it exits. Each child joins that namespace, takes a private
copy (unshare), and mounts a fresh size-capped tmpfs as its working directory: nothing else of the host's
filesystem exists for the program (no project tree, no data, no /proc), so it can neither read nor lock
it. Building it once keeps the per-program cost to a few system calls."""

from __future__ import annotations

import ctypes
import os
import struct

from .libc import (CLONE_NEWNS, CLONE_NEWUSER, MNT_DETACH, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID,
                   MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, check, libc, mount, pivot_root, syscall, umount,
                   unshare)
from .namespaces import enter_user_namespace

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


def _build(view: dict, mountpoint: str) -> None:
    """In the helper's own mount namespace: the new root at `mountpoint`, then pivot_root into it."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we do here leaks out, or in
    mount("tmpfs", mountpoint, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=4096,mode=755")
    steps = [(p, "dir") for p in _outermost(view["dirs"], view["hidden"])]
    steps += [(p, "hide") for p in view["hidden"]] + [(p, "file") for p in view["files"]]
    steps.append((view["scratch_root"], "scratch_root"))
    for path, kind in sorted(steps, key=lambda step: (_depth(step[0]), step[0])):
        target = mountpoint + path
        _ensure(target, is_dir=kind != "file")
        if kind == "hide":
            mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,nr_inodes=64,mode=755")
        elif kind == "scratch_root":  # not recursive: the new root itself is mounted below it
            mount(path, target, None, MS_BIND)
        else:
            mount(path, target, None, MS_BIND | MS_REC)
    make_read_only(mountpoint)
    os.chdir(mountpoint)
    pivot_root(".", ".")  # the old root now sits on top of the new one, at "/"
    umount(".", MNT_DETACH)
    os.chdir("/")


def prepare(view: dict, mountpoint: str, is_root: bool) -> dict | None:
    """In the zygote: build the view in a helper and keep its namespaces; {"mnt": fd, "user": fd or None},
    or None where this machine cannot build it."""
    ready_read, ready_write = os.pipe()
    hold_read, hold_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_read)
            os.close(hold_write)
            ok = (is_root or enter_user_namespace()) and unshare(CLONE_NEWNS)
            if ok:
                try:
                    _build(view, mountpoint)
                except OSError:
                    ok = False
            os.write(ready_write, b"1" if ok else b"0")
            os.read(hold_read, 1)  # returns when the zygote has opened our namespaces
        finally:
            os._exit(0)
    os.close(ready_write)
    os.close(hold_read)
    try:
        if os.read(ready_read, 1) != b"1":
            return None
        handles = {"mnt": os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC), "user": None}
        if not is_root:
            handles["user"] = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
        return handles
    except OSError:
        return None
    finally:
        os.close(hold_write)
        os.close(ready_read)
        os.waitpid(pid, 0)


def setns(fd: int, kind: int) -> None:
    check(libc().setns(fd, kind), "setns")


def join_user_namespace(handles: dict) -> None:
    """Non-root children first: the view's user namespace (it owns the view's mount namespace)."""
    setns(handles["user"], CLONE_NEWUSER)


def enter(handles: dict, workdir: str, scratch_bytes: int, owner: int | None) -> None:
    """In the child: a private copy of the view, a fresh tmpfs at `workdir`, and chdir there."""
    setns(handles["mnt"], CLONE_NEWNS)  # root and working directory become the view's root
    if not unshare(CLONE_NEWNS):
        raise OSError("unshare of the view's mount namespace failed")
    mount("tmpfs", workdir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
          f"size={max(scratch_bytes, 65_536)},nr_inodes=10000,mode=700")
    if owner is not None:
        os.chown(workdir, owner, owner)
    os.chdir(workdir)
