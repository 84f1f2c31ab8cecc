"""The zygote: a warm interpreter that forks one child per program and supervises it.

It starts from an empty environment (a fresh `python -I`, never a fork of the evaluation), imports
math, sympy, numpy, ... once so that programs do not pay for the imports, computes the read view and the
Landlock read layer, then serves a single-threaded loop: fork on request, enforce the wall-clock limit,
reap, report the exit facts (wait status, CPU time, OOM kills) to the pool. It never reads a program's
code or output (they pass through as descriptors), so every fork starts from a state that holds no other
program's bytes. It never runs model code itself."""

from __future__ import annotations

import fcntl
import json
import os
import resource
import selectors
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass

from . import child, landlock, mountview, protocol, readview
from .cgroup import MemoryCgroups
from .libc import libc
from .limits import address_space_bytes

BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); import matheval.sandbox.zygote as z; "
        "del sys.path[0]; z.main(sys.argv[2])")
_LOW_FDS = 10  # descriptors below this stay reserved, so received ones never collide with a child's 0-4


def main(config_json: str) -> None:
    config = json.loads(config_json)
    channel = socket.socket(fileno=fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, _LOW_FDS))
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in range(_LOW_FDS):
        if fd != 2 and fd != devnull:
            os.dup2(devnull, fd)  # 0, 1 and spare placeholders; 2 stays the pool's stderr for tracebacks
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # 4 descriptors per program in flight
    wanted = 65_536 if hard == resource.RLIM_INFINITY else min(hard, 65_536)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # 4 descriptors per program in flight
    wanted = 65_536 if hard == resource.RLIM_INFINITY else min(hard, 65_536)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    before = set(sys.modules)
    for name in config["preload"]:
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - a missing optional module only costs programs the import
            pass
    import gc
    import linecache  # noqa: F401  (used by the child's traceback printing)
    import traceback  # noqa: F401

    libc()  # resolve native functions now: children must not need to load libraries
    allowed = _top_levels(set(sys.modules) - before) | set(config["preload"])
    later = [name for name in config["importable"] if name not in sys.modules]
    if later:  # importable but not pre-imported (run_python's fresh interpreter): find what they load
        allowed |= _probe_imports(later)
    view = readview.compute(allowed - {"matheval"}, config["root"])
    disabled = set(config.get("disabled", ()))
    abi = landlock.abi_version() if "landlock" not in disabled else 0
    config.update(view=view.as_dict(), landlock_abi=abi, baseline_bytes=address_space_bytes(),
                  landlock_fd=landlock.read_ruleset(readview.landlock_grants(view), abi))
    if "mount_namespace" not in disabled:
        mountpoint = tempfile.mkdtemp(prefix=".view-", dir=config["root"])
        config["view_namespace"] = mountview.prepare(view.as_dict(), mountpoint, os.geteuid() == 0)
    cgroups = MemoryCgroups.open() if "cgroup_memory" not in disabled else None
    gc.freeze()  # children's garbage collections then leave the zygote's objects (and pages) alone
    Zygote(config, channel, cgroups).serve()


def _top_levels(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def _probe_imports(names: list[str]) -> set[str]:
    """The top-level packages that importing `names` loads, found in a throwaway fork so that this
    interpreter stays fresh."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            before = set(sys.modules)
            for name in names:
                try:
                    __import__(name)
                except Exception:  # noqa: BLE001
                    pass
            os.write(write, json.dumps(sorted(_top_levels(set(sys.modules) - before))).encode())
        finally:
            os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 1 << 16):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    try:
        return set(json.loads(b"".join(chunks) or b"[]"))
    except ValueError:
        return set()


@dataclass
class _Child:
    job_id: int
    pid: int
    pidfd: int | None
    workdir: str
    limits: dict
    started: float
    cgroup: str | None
    timed_out: bool = False
    killed: bool = False


class Zygote:
    def __init__(self, config: dict, channel: socket.socket, cgroups: MemoryCgroups | None):
        self.config = config
        self.channel = channel
        self.cgroups = cgroups
        self.children: dict[int, _Child] = {}  # pid -> child
        self.queue: list[tuple[dict, list[int]]] = []  # run messages (and their descriptors) not started yet
        self.selector = selectors.DefaultSelector()
        self.selector.register(channel, selectors.EVENT_READ, None)

    def serve(self) -> None:
        try:
            self.loop()
        except (BrokenPipeError, ConnectionResetError):  # the pool is gone
            pass
        finally:
            self.shutdown()

    def loop(self) -> None:
        while True:
            while self.queue and len(self.children) < self.config["workers"]:
                message, fds = self.queue.pop(0)
                self.start(message, fds)
                for fd in fds:
                    os.close(fd)  # the child has its copies
            deadlines = [c.started + c.limits["wall_seconds"] for c in self.children.values() if not c.killed]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            if any(c.pidfd is None for c in self.children.values()):
                timeout = 0.01 if timeout is None else min(timeout, 0.01)
            for key, _ in self.selector.select(timeout):
                if key.data is None:
                    if not self.receive():
                        return
                elif key.data.pid in self.children:
                    self.finish(key.data)
            now = time.monotonic()
            for entry in list(self.children.values()):
                if not entry.killed and now >= entry.started + entry.limits["wall_seconds"]:
                    entry.timed_out = True
                    self.kill(entry)
                if entry.pidfd is None and entry.pid in self.children:
                    if os.waitid(os.P_PID, entry.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
                        self.finish(entry)

    def receive(self) -> bool:
        message, fds = protocol.receive(self.channel)
        if message is None:
            return False
        if "cancel" in message:
            for entry in self.children.values():
                if entry.job_id == message["cancel"]:
                    self.kill(entry)
            for queued, queued_fds in [q for q in self.queue if q[0]["run"] == message["cancel"]]:
                self.queue.remove((queued, queued_fds))
                for fd in queued_fds:
                    os.close(fd)
                self.reply({"id": queued["run"], "cancelled_before_start": True})
        if "run" in message and len(fds) == protocol.RUN_FDS:
            self.queue.append((message, fds))
        else:
            for fd in fds:
                os.close(fd)
        return True

    def start(self, message: dict, fds: list[int]) -> None:
        job_id, limits = message["run"], message["limits"]
        try:
            workdir = tempfile.mkdtemp(prefix="run-", dir=self.config["root"])
        except OSError as exc:
            return self.reply({"id": job_id, "start_error": str(exc)})
        group = self.cgroups.create(os.path.basename(workdir), limits["memory_mb"]) if self.cgroups else None
        started = time.monotonic()
        try:
            pid = os.fork()
        except OSError as exc:
            self.cleanup(workdir, group)
            return self.reply({"id": job_id, "start_error": str(exc)})
        if pid == 0:  # the child: never returns
            code = child.SETUP_FAILED
            try:
                for target, fd in zip((child.CODE_FD, 1, 2, child.STATUS_FD), fds):
                    os.dup2(fd, target)
                code = child.main({"workdir": workdir, "limits": limits, "cgroup": group}, self.config,
                                  os.getppid())
            finally:
                os._exit(code)
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pidfd = None
        entry = _Child(job_id, pid, pidfd, workdir, limits, started, group)
        self.children[pid] = entry
        if pidfd is not None:
            self.selector.register(pidfd, selectors.EVENT_READ, entry)

    def kill(self, entry: _Child) -> None:
        entry.killed = True
        _kill_group(entry.pid)

    def finish(self, entry: _Child) -> None:
        _kill_group(entry.pid)  # stragglers in its process group
        _, status, usage = os.wait4(entry.pid, 0)
        seconds = time.monotonic() - entry.started
        if entry.pidfd is not None:
            self.selector.unregister(entry.pidfd)
            os.close(entry.pidfd)
        del self.children[entry.pid]
        oom_kills = self.cgroups.oom_kills(entry.cgroup) if entry.cgroup else 0
        self.cleanup(entry.workdir, entry.cgroup)
        self.reply({"id": entry.job_id, "wait_status": status, "cpu": usage.ru_utime + usage.ru_stime,
                    "seconds": round(seconds, 4), "timed_out": entry.timed_out,
                    "cancelled": entry.killed and not entry.timed_out, "oom_kills": oom_kills})

    def cleanup(self, workdir: str, group: str | None) -> None:
        shutil.rmtree(workdir, ignore_errors=True)
        if group:
            MemoryCgroups.remove(group)

    def reply(self, message: dict) -> None:
        protocol.send(self.channel, message)

    def shutdown(self) -> None:
        """The pool has gone or closed: kill every program and remove its directory."""
        for entry in self.children.values():
            _kill_group(entry.pid)
            os.waitpid(entry.pid, 0)
            self.cleanup(entry.workdir, entry.cgroup)
        self.children.clear()
        for _, fds in self.queue:
            for fd in fds:
                os.close(fd)
        if self.cgroups:
            self.cgroups.close()
        shutil.rmtree(self.config["root"], ignore_errors=True)  # the pool's job too, but it may be dead


def _kill_group(pid: int) -> None:
    """The child and its process group (it may not have called setsid yet). Called before the child is
    reaped, so neither id can have been reused."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
