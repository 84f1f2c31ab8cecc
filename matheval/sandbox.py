"""Run model-written Python in a throwaway, locked-down process.

Code-executing agents run programs that a language model wrote, so every program is treated as hostile.
Each one runs in its own process, forked from a "zygote": a clean interpreter, started with an empty
environment, that has already imported math, sympy, numpy, ... so programs do not pay for the imports
(a fork costs a few milliseconds; importing sympy costs a second). The zygote never runs model code;
each fork is locked down before the program's first line, runs one program, and is discarded.
The layers, and what each one stops:

==================  ==========================================================  =========================
layer               stops                                                       needs
==================  ==========================================================  =========================
process_group       stragglers: the whole process group is killed at the end    -
rlimits             memory (RLIMIT_AS), CPU time, file size, open files, core   -
                    dumps; RLIMIT_NPROC=0 stops fork and threads, but only for
                    a non-root uid (root ignores it)
uid_switch          (when run as root) the program runs as a fresh uid with no  root
                    capabilities: file permissions and RLIMIT_NPROC bind, and
                    it cannot signal or trace anyone else's processes
user_namespace      (when not root) gives the child the right to build the two  unprivileged user
                    namespaces below; capabilities are dropped afterwards       namespaces
network_namespace   all networking: only a downed loopback device exists        root or user namespace
mount_namespace     writes: every mount is read-only except a private tmpfs     root or user namespace
                    /tmp (size-capped, noexec) holding the working directory.
                    Reads: /proc, /run, /dev/shm, /var/tmp and the parent's
                    $HOME are covered by empty tmpfs (other processes'
                    environments and command lines, sockets, tokens in
                    ~/.cache); Python directories inside them are mounted back
                    read-only
landlock            writes outside the working directory, TCP, signals to and   Linux >= 5.13
                    /proc/<pid> of processes outside the sandbox; needs no      (TCP 6.7, signals 6.12)
                    privileges
seccomp             fork/clone/exec, sockets, signals to other processes,       Linux on x86_64, aarch64
                    ptrace, mount, namespaces, io_uring, bpf, keyrings, kernel
                    modules: refused at the system-call level, even from
                    native code
no_new_privs        set-uid binaries gaining privileges                         Linux
audit_hook          Python-level refusal with a clear message ("blocked:        always
                    network access"): sockets, subprocess, os.system, fork,
                    exec, os.kill, ctypes loading, writes outside the working
                    directory
==================  ==========================================================  =========================

The audit hook cannot be removed from Python, but it is only a courtesy layer: it runs inside the
program's own interpreter, after every builtin is loaded, so native code switches it off (numpy keeps
``ctypes`` loaded and ``ctypes.memmove`` is not audited; this module's resolved libc handle needs no
dlopen), and so can monkeypatching the functions it calls. The OS layers carry the weight: the attack
tests run with the hook on and off. Where a layer is unavailable the sandbox degrades and says so:
``sandbox_capabilities()`` lists the active layers. Root without namespaces (e.g. Docker's default
seccomp profile) keeps the uid switch, landlock and seccomp; the Python installation must then be
readable by other users (it is under /usr, /usr/local, /opt), else programs can import only what the
zygote pre-imported. A non-root user without user namespaces keeps rlimits, landlock, seccomp and the
hook; programs can then read whatever that user can read.

Known gaps: reads are not restricted beyond the covered paths; programs cannot start threads (RLIMIT_NPROC
and seccomp refuse clone) nor asyncio event loops (no socketpair); the memory limit is on address space,
so it also counts memory mapped but never touched.
"""

from __future__ import annotations

import ctypes
import errno
import itertools
import json
import math
import os
import platform
import queue
import resource
import selectors
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import asdict, dataclass, field
from pathlib import Path

from matheval.errors import UserError

__all__ = [
    "SandboxLimits",
    "SandboxPool",
    "SandboxResult",
    "SandboxViolation",
    "run_python",
    "sandbox_capabilities",
]

DEFAULT_PRELOAD = ("math", "cmath", "fractions", "decimal", "itertools", "functools", "collections",
                   "statistics", "random", "re", "numpy", "sympy")
"""Modules the pool's zygote imports once, so that programs find them already loaded."""

LAYERS = ("process_group", "rlimits", "uid_switch", "user_namespace", "network_namespace",
          "mount_namespace", "landlock", "seccomp", "no_new_privs", "audit_hook")

SANDBOX_UID_BASE = 0x7A000000
"""Root runs each program as uid SANDBOX_UID_BASE + its pid: unique among live processes, owning no file,
inside a range (0x70000000-0x7FFFFFFF) that systemd documents as unused."""


# ----------------------------------------------------------------------------------------------------
# Public records


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
    """What a program did. error is a one-line reason when it failed (None when it exited 0)."""

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


# ----------------------------------------------------------------------------------------------------
# Public API


def run_python(code: str, limits: SandboxLimits | None = None) -> SandboxResult:
    """Run one program in a fresh interpreter (no pre-imported modules) and wait for it.

    Each call starts its own zygote, so it pays the interpreter's start-up; agents that run many
    programs should use SandboxPool instead."""
    client = _ZygoteClient(workers=1, preload=())
    try:
        return client.submit(code, limits or SandboxLimits()).future.result()
    finally:
        client.close()


class SandboxPool:
    """Runs programs concurrently (at most `workers` at a time), each in a fresh fork of one warm zygote.

    The zygote starts (and imports `preload`) when the pool is created. `run` never blocks the event
    loop; it can be awaited from any number of tasks, and from any event loop or thread."""

    def __init__(self, workers: int | None = None, limits: SandboxLimits | None = None,
                 preload: tuple[str, ...] = DEFAULT_PRELOAD):
        workers = workers if workers is not None else max(2, os.cpu_count() or 2)
        if not isinstance(workers, int) or workers < 1:
            raise UserError(f"SandboxPool workers must be a positive integer (got {workers!r})")
        self.workers = workers
        self.limits = (limits or SandboxLimits()).checked()
        self._client = _ZygoteClient(workers=workers, preload=tuple(preload))

    async def run(self, code: str, limits: SandboxLimits | None = None) -> SandboxResult:
        import asyncio  # here, not at the top: the zygote imports this module and must start fast

        request = self._client.submit(code, limits or self.limits)
        try:
            return await asyncio.wrap_future(request.future)
        except asyncio.CancelledError:
            self._client.cancel(request.id)
            raise

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    async def __aenter__(self) -> SandboxPool:
        return self

    async def __aexit__(self, *exc) -> None:
        self.close()


_capabilities: dict[str, bool] | None = None


def sandbox_capabilities() -> dict[str, bool]:
    """Which isolation layers are active on this machine (probed once by running an empty program)."""
    global _capabilities
    if _capabilities is None:
        client = _ZygoteClient(workers=1, preload=())
        try:
            request = client.submit("pass", SandboxLimits())
            result = request.future.result()
            if not result.ok:
                raise RuntimeError(f"sandbox probe failed: {result.error}\n{result.stderr}")
            _capabilities = {name: bool(request.layers.get(name)) for name in LAYERS}
        finally:
            client.close()
    return dict(_capabilities)


# ----------------------------------------------------------------------------------------------------
# Parent side: talks to the zygote over a pipe (length-prefixed JSON frames).


def _frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return struct.pack(">I", len(body)) + body


def _read_exactly(fd: int, n: int) -> bytes | None:
    chunks = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


@dataclass
class _Request:
    id: int
    future: object  # concurrent.futures.Future, imported only in the parent
    layers: dict = field(default_factory=dict)


_ZYGOTE_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); import matheval.sandbox as s; "
                "del sys.path[0]; s._zygote_main(sys.argv[2])")


def _zygote_environment() -> dict[str, str]:
    """The zygote (and so every program) starts from this, never from the parent's environment."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": "/nonexistent",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "NUMEXPR_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


class _Connection:
    """One zygote process, the threads that talk to it, and the requests it owes an answer."""

    def __init__(self, config: dict):
        self.pending: dict[int, _Request] = {}
        self.lock = threading.Lock()
        self.closing = False
        self.outbox: queue.SimpleQueue = queue.SimpleQueue()
        # Programs' working directories go in here; removed when the zygote exits, however it exits.
        self.root = tempfile.mkdtemp(prefix="matheval-sandbox-",
                                     dir="/tmp" if os.path.isdir("/tmp") else None)
        os.chmod(self.root, 0o711)  # a sandbox uid may pass through, not list
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-c", _ZYGOTE_BOOT, str(Path(__file__).resolve().parents[1]),
             json.dumps({**config, "root": self.root})],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_zygote_environment(), cwd="/",
            start_new_session=True, close_fds=True)
        threading.Thread(target=self._write_loop, daemon=True, name="sandbox-writer").start()
        threading.Thread(target=self._read_loop, daemon=True, name="sandbox-reader").start()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None and not self.closing

    def send(self, request: _Request, message: dict) -> None:
        with self.lock:
            self.pending[request.id] = request
        self.outbox.put(_frame(message))

    def cancel(self, request_id: int) -> None:
        with self.lock:
            if self.pending.pop(request_id, None) is None:
                return
        self.outbox.put(_frame({"cancel": request_id}))

    def _write_loop(self) -> None:
        fd = self.process.stdin.fileno()
        while (data := self.outbox.get()) is not None:
            try:
                while data:
                    data = data[os.write(fd, data):]
            except OSError:  # the zygote is gone; the reader reports it
                return
        self.process.stdin.close()  # end of input: the zygote cleans up and exits

    def _read_loop(self) -> None:
        fd = self.process.stdout.fileno()
        while (header := _read_exactly(fd, 4)) is not None:
            body = _read_exactly(fd, struct.unpack(">I", header)[0])
            if body is None:
                break
            message = json.loads(body)
            with self.lock:
                request = self.pending.pop(message.pop("id"), None)
            if request is not None:
                request.layers = message.pop("layers")
                if not request.future.done():
                    request.future.set_result(SandboxResult(**message))
        self.process.wait()
        _remove_tree(self.root)
        with self.lock:
            orphans = list(self.pending.values())
            self.pending.clear()
        reason = "sandbox pool closed" if self.closing else "sandbox zygote exited unexpectedly"
        for request in orphans:
            if not request.future.done():
                request.future.set_result(SandboxResult("", "", None, False, reason, 0.0))

    def close(self) -> None:
        self.closing = True
        self.outbox.put(None)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class _ZygoteClient:
    """Sends programs to a zygote and hands back results through futures.

    Threads own the pipes, so callers never block on them. If the zygote dies, its pending programs get
    an error result and the next submit starts a new one."""

    def __init__(self, workers: int, preload: tuple[str, ...], python_guard: bool = True):
        self._config = {
            "workers": workers,
            "preload": list(preload),
            "python_guard": python_guard,
            "uid_base": SANDBOX_UID_BASE,
            "home": os.path.expanduser("~"),
            "parent": os.getpid(),  # shows in `ps`: which process a zygote (and its forks) serve
        }
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._closed = False
        self._connection = _Connection(self._config)
        self._finalizer = weakref.finalize(self, _Connection.close, self._connection)

    def submit(self, code: str, limits: SandboxLimits) -> _Request:
        import concurrent.futures

        if not isinstance(code, str):
            raise TypeError(f"code must be a str, not {type(code).__name__}")
        limits = limits.checked()
        with self._lock:
            if self._closed:
                raise RuntimeError("sandbox pool is closed")
            if not self._connection.alive:
                self._finalizer()
                self._connection = _Connection(self._config)
                self._finalizer = weakref.finalize(self, _Connection.close, self._connection)
            connection = self._connection
            request = _Request(next(self._ids), concurrent.futures.Future())
        connection.send(request, {"id": request.id, "code": code, "limits": asdict(limits)})
        return request

    def cancel(self, request_id: int) -> None:
        self._connection.cancel(request_id)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._finalizer()


# ----------------------------------------------------------------------------------------------------
# The zygote: a single-threaded select loop that forks one child per program and supervises them.


def _zygote_main(config_json: str) -> None:
    config = json.loads(config_json)
    requests_fd, replies_fd = os.dup(0), os.dup(1)  # the protocol; fds 0/1 become harmless
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    os.close(devnull)
    for name in config["preload"]:
        try:
            __import__(name)
        except Exception:  # a missing optional module only costs programs the import
            pass
    import gc
    import linecache  # noqa: F401  (used by the child's traceback printing)
    import traceback  # noqa: F401

    _libc()  # resolve native functions now: children must not need to load libraries
    config["python_dirs"] = _python_dirs()
    config["baseline_bytes"] = _address_space_bytes()
    gc.freeze()  # children's garbage collections then leave the zygote's objects (and pages) alone
    _Zygote(config, requests_fd, replies_fd).serve()


@dataclass
class _Child:
    request_id: int
    pid: int
    pidfd: int | None
    workdir: str
    limits: SandboxLimits
    started: float
    streams: dict[int, str]  # read fd -> "stdout" | "stderr" | "status"
    buffers: dict[str, bytearray] = field(default_factory=lambda: {
        "stdout": bytearray(), "stderr": bytearray(), "status": bytearray()})
    dropped: dict[str, int] = field(default_factory=lambda: {"stdout": 0, "stderr": 0, "status": 0})
    timed_out: bool = False
    killed: bool = False


_STATUS_CAP = 65_536


class _Zygote:
    def __init__(self, config: dict, requests_fd: int, replies_fd: int):
        self.config = config
        self.requests_fd = requests_fd
        self.replies_fd = replies_fd
        self.inbox = bytearray()
        self.queue: list[dict] = []
        self.children: dict[int, _Child] = {}  # pid -> child
        self.selector = selectors.DefaultSelector()
        os.set_blocking(requests_fd, False)
        self.selector.register(requests_fd, selectors.EVENT_READ, ("requests", None))

    def serve(self) -> None:
        try:
            self.loop()
        except BrokenPipeError:  # the parent is gone
            pass
        finally:
            self.shutdown()

    def loop(self) -> None:
        while True:
            while self.queue and len(self.children) < self.config["workers"]:
                self.start(self.queue.pop(0))
            deadlines = [c.started + c.limits.wall_seconds for c in self.children.values()
                         if not c.killed]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            if any(c.pidfd is None for c in self.children.values()):
                timeout = 0.01 if timeout is None else min(timeout, 0.01)
            for key, _ in self.selector.select(timeout):
                kind, child = key.data
                if kind == "requests":
                    if not self.read_requests():
                        return
                elif kind == "exit":
                    self.finish(child)
                elif key.fd in child.streams:  # (not if its exit came first in this batch)
                    self.read_stream(child, key.fd)
            now = time.monotonic()
            for child in list(self.children.values()):
                if not child.killed and now >= child.started + child.limits.wall_seconds:
                    child.timed_out = True
                    self.kill(child)
                if child.pidfd is None and child.pid in self.children:
                    if os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
                        self.finish(child)

    def read_requests(self) -> bool:
        try:
            data = os.read(self.requests_fd, 1 << 20)
        except BlockingIOError:
            return True
        if not data:
            return False
        self.inbox += data
        while len(self.inbox) >= 4:
            size = struct.unpack(">I", self.inbox[:4])[0]
            if len(self.inbox) < 4 + size:
                break
            message = json.loads(self.inbox[4:4 + size])
            del self.inbox[:4 + size]
            if "cancel" in message:
                self.cancel(message["cancel"])
            else:
                self.queue.append(message)
        return True

    def cancel(self, request_id: int) -> None:
        self.queue = [m for m in self.queue if m["id"] != request_id]
        for child in self.children.values():
            if child.request_id == request_id:
                self.kill(child)

    def start(self, message: dict) -> None:
        limits = SandboxLimits(**message["limits"])
        try:
            workdir = tempfile.mkdtemp(prefix="run-", dir=self.config["root"])
            pipes = [os.pipe() for _ in range(3)]
        except OSError as exc:
            return self.reply(message["id"], SandboxResult("", "", None, False,
                                                           f"sandbox could not start: {exc}", 0.0), {})
        started = time.monotonic()
        try:
            pid = os.fork()
        except OSError as exc:
            for fd in itertools.chain(*pipes):
                os.close(fd)
            _remove_tree(workdir)
            return self.reply(message["id"], SandboxResult("", "", None, False,
                                                           f"sandbox could not start: {exc}", 0.0), {})
        if pid == 0:  # the child: never returns
            code = 70
            try:
                self.forget_others()
                code = _child_main(message["code"], limits, workdir, [w for _, w in pipes],
                                   self.config, os.getppid())
            finally:
                os._exit(code)
        reads = [r for r, w in pipes]
        for _, w in pipes:
            os.close(w)
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pidfd = None
        child = _Child(message["id"], pid, pidfd, workdir, limits, started,
                       dict(zip(reads, ("stdout", "stderr", "status"))))
        self.children[pid] = child
        for fd in reads:
            os.set_blocking(fd, False)
            self.selector.register(fd, selectors.EVENT_READ, ("stream", child))
        if pidfd is not None:
            self.selector.register(pidfd, selectors.EVENT_READ, ("exit", child))

    def forget_others(self) -> None:
        """In a fresh child: drop other programs' code and output (the program could walk up the stack
        to the zygote's frames), and the zygote's descriptors."""
        self.queue.clear()
        for child in self.children.values():
            child.buffers.clear()
        self.children.clear()
        self.inbox.clear()
        self.selector.close()

    def read_stream(self, child: _Child, fd: int) -> bool:
        """Read what is available; returns False at end of stream."""
        name = child.streams[fd]
        cap = _STATUS_CAP if name == "status" else child.limits.max_output_bytes
        buffer = child.buffers[name]
        while True:
            try:
                data = os.read(fd, 65_536)
            except BlockingIOError:
                return True
            if not data:
                self.selector.unregister(fd)
                os.close(fd)
                del child.streams[fd]
                return False
            room = max(0, cap - len(buffer))
            buffer += data[:room]
            child.dropped[name] += len(data) - min(room, len(data))

    def kill(self, child: _Child) -> None:
        child.killed = True
        _kill_group(child.pid)

    def finish(self, child: _Child) -> None:
        _kill_group(child.pid)  # stragglers in its process group
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.monotonic() - child.started
        for fd in list(child.streams):  # the writers are gone: drain what is left
            self.read_stream(child, fd)
        for fd in list(child.streams):  # a writer escaped the group; stop waiting for it
            self.selector.unregister(fd)
            os.close(fd)
        if child.pidfd is not None:
            self.selector.unregister(child.pidfd)
            os.close(child.pidfd)
        del self.children[child.pid]
        _remove_tree(child.workdir)
        reported = _parse_status(bytes(child.buffers["status"]))
        result = SandboxResult(
            stdout=_decode(child.buffers["stdout"], child.dropped["stdout"]),
            stderr=_decode(child.buffers["stderr"], child.dropped["stderr"]),
            exit_code=os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None,
            timed_out=child.timed_out,
            error=None,
            seconds=round(seconds, 4),
        )
        child.buffers.clear()  # later children are forked from us: keep no program's output around
        cpu = usage.ru_utime + usage.ru_stime
        result.error = _explain(status, child, cpu, reported.get("reason"))
        if result.error and result.error.startswith("cpu time limit"):
            result.timed_out = True
        self.reply(child.request_id, result, reported.get("layers", {}))

    def reply(self, request_id: int, result: SandboxResult, layers: dict) -> None:
        data = _frame({"id": request_id, "layers": layers, **asdict(result)})
        while data:
            data = data[os.write(self.replies_fd, data):]

    def shutdown(self) -> None:
        """The parent has gone or closed the pool: kill every program and remove its directory."""
        for child in self.children.values():
            _kill_group(child.pid)
            os.waitpid(child.pid, 0)
            _remove_tree(child.workdir)
        self.children.clear()
        _remove_tree(self.config["root"])  # also the client's job, but the client may have been killed


def _kill_group(pid: int) -> None:
    try:  # called before the child is reaped, so its process group id cannot have been reused
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _explain(status: int, child: _Child, cpu_seconds: float, reason: str | None) -> str | None:
    limits = child.limits
    if child.timed_out:
        return f"time limit {limits.wall_seconds:g}s exceeded"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if not child.killed and (sig == signal.SIGXCPU or
                                 (sig == signal.SIGKILL and cpu_seconds >= limits.cpu_seconds)):
            return f"cpu time limit {limits.cpu_seconds:g}s exceeded"
        if child.killed:
            return "cancelled"
        return f"killed by signal {signal.Signals(sig).name}"
    code = os.WEXITSTATUS(status)
    if code == 0:
        return None
    return reason or f"exit code {code}"


def _decode(data: bytearray, dropped: int) -> str:
    text = data.decode("utf-8", errors="replace")
    if dropped:
        text += f"\n[output truncated: {dropped} more bytes]\n"
    return text


def _parse_status(data: bytes) -> dict:
    """The child's status lines: layers first, then the failure reason. Written by the (untrusted)
    child, so only informative."""
    merged: dict = {}
    for line in data.decode(errors="replace").splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict):
            if isinstance(message.get("layers"), dict) and "layers" not in merged:
                merged["layers"] = message["layers"]
            if isinstance(message.get("reason"), str):
                merged["reason"] = message["reason"][:300]
    return merged


def _remove_tree(path: str) -> None:
    import shutil
    shutil.rmtree(path, ignore_errors=True)


# ----------------------------------------------------------------------------------------------------
# The child: lock the process down, then run the program.


def _child_main(code: str, limits: SandboxLimits, workdir: str, write_fds: list[int], config: dict,
                zygote_pid: int) -> int:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    for target, fd in zip((1, 2, 3), write_fds):
        os.dup2(fd, target)
    os.closerange(4, 1 << 16)  # the zygote's pipes, other programs' pipes, the selector
    try:
        layers = _enter_sandbox(workdir, limits, config, zygote_pid)
    except BaseException as exc:
        _write_status({"reason": f"sandbox setup failed: {exc!r}"})
        return 70
    _write_status({"layers": layers})
    return _run_program(code)


def _write_status(message: dict) -> None:
    try:
        os.write(3, (json.dumps(message) + "\n").encode())
    except OSError:
        pass


def _enter_sandbox(workdir: str, limits: SandboxLimits, config: dict, zygote_pid: int) -> dict:
    """Apply every layer this machine offers, in the order their prerequisites need (namespaces and
    mounts while privileged, then limits, then dropping privileges, then filters); returns which took
    effect."""
    layers = dict.fromkeys(LAYERS, False)
    os.setsid()
    layers["process_group"] = True
    _try_write("/proc/self/oom_score_adj", "1000")  # if memory runs out, the kernel kills us first
    is_root = os.geteuid() == 0
    uid = config["uid_base"] + os.getpid()
    namespaces = _unshare_namespaces(is_root)
    layers["user_namespace"] = "user" in namespaces
    layers["network_namespace"] = "net" in namespaces
    if "mount" in namespaces:
        hide = ["/dev/shm", "/var/tmp", "/run", config["home"]]
        layers["mount_namespace"] = _private_filesystem(workdir, limits, uid if is_root else None, hide,
                                                        config["python_dirs"])
    if not layers["mount_namespace"] and is_root:
        os.chown(workdir, uid, uid)
    os.chmod(workdir, 0o700)
    os.chdir(workdir)
    layers["rlimits"] = _set_rlimits(limits, config["baseline_bytes"])
    if is_root:
        layers["uid_switch"] = _switch_uid(uid)
    elif "user" in namespaces:
        _drop_capabilities()
    libc = _libc()
    libc.prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL), ctypes.c_ulong(0), ctypes.c_ulong(0),
               ctypes.c_ulong(0))
    if os.getppid() != zygote_pid:  # the zygote died before we could ask to die with it
        raise RuntimeError("zygote exited")
    layers["no_new_privs"] = libc.prctl(PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), ctypes.c_ulong(0),
                                        ctypes.c_ulong(0), ctypes.c_ulong(0)) == 0
    layers["landlock"] = layers["no_new_privs"] and _restrict_with_landlock(workdir)
    layers["seccomp"] = layers["no_new_privs"] and _install_seccomp(os.getpid())
    _reset_interpreter(workdir)
    if config["python_guard"]:
        sys.addaudithook(_audit_hook(workdir))
        layers["audit_hook"] = True
    return layers


def _reset_interpreter(workdir: str) -> None:
    """Make the forked interpreter look like a fresh one started in workdir with a minimal environment."""
    os.environ.clear()
    os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir,
                       "TMPDIR": workdir, "USER": "sandbox", "LOGNAME": "sandbox",
                       "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                       "PYTHONDONTWRITEBYTECODE": "1"})
    tempfile.tempdir = None
    sys.dont_write_bytecode = True
    sys.argv = ["<program>"]
    sys.stdin = open(0, encoding="utf-8", closefd=False)
    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False,
                      buffering=1)  # line by line: what was printed before a time-out is kept
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False,
                      buffering=1)
    if "random" in sys.modules:  # a fresh interpreter would seed from the OS; so do we
        sys.modules["random"].seed()
    if "numpy.random" in sys.modules:
        sys.modules["numpy.random"].seed()


def _run_program(code: str) -> int:
    import builtins
    import linecache
    import traceback
    import types

    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main
    linecache.cache["<program>"] = (len(code), None, code.splitlines(True), "<program>")
    exit_code, reason = 0, None
    try:
        exec(compile(code, "<program>", "exec"), main.__dict__)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            exit_code, reason = exc.code or 0, f"exit code {exc.code}"
        else:  # sys.exit("message"): Python prints it and exits 1
            print(exc.code, file=sys.stderr)
            exit_code, reason = 1, _first_line(str(exc.code)) or "exit code 1"
    except BaseException as exc:
        exit_code, reason = 1, _describe_failure(exc)
        try:
            traceback.print_exception(type(exc), exc, _program_frames(exc.__traceback__))
        except BaseException:
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    _write_status({"reason": reason})
    return exit_code


def _program_frames(tb):
    """The traceback without the sandbox's own frames (this runner, the audit hook)."""
    frames = []
    while tb is not None:
        if tb.tb_frame.f_code.co_filename != __file__:
            frames.append(tb)
        tb = tb.tb_next
    for earlier, later in zip(frames, frames[1:]):
        earlier.tb_next = later
    if frames:
        frames[-1].tb_next = None
    return frames[0] if frames else None


def _describe_failure(exc: BaseException) -> str:
    seen = exc
    while seen is not None:  # the root cause, also when the program wrapped it
        if isinstance(seen, SandboxViolation):
            return str(seen)
        if isinstance(seen, MemoryError):
            return "memory limit exceeded"
        if isinstance(seen, OSError) and seen.errno == errno.EFBIG:
            return "file size limit exceeded"
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return "disk space limit exceeded"
        seen = seen.__cause__ or seen.__context__
    return _first_line(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


def _first_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0][:300] if text else ""


def _try_write(path: str, text: str) -> bool:
    try:
        with open(path, "w") as f:
            f.write(text)
        return True
    except OSError:
        return False


def _address_space_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def _set_rlimits(limits: SandboxLimits, baseline: int) -> bool:
    """RLIMIT_NPROC=0 goes first: a later setuid then also marks the process so that execve fails."""
    cpu = max(1, math.ceil(limits.cpu_seconds))
    wanted = [
        (resource.RLIMIT_NPROC, 0, 0),
        (resource.RLIMIT_AS, baseline + limits.memory_mb * 2**20, baseline + limits.memory_mb * 2**20),
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_FSIZE, limits.max_file_bytes, limits.max_file_bytes),
        (resource.RLIMIT_NOFILE, 256, 256),
        (resource.RLIMIT_CORE, 0, 0),
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


def _switch_uid(uid: int) -> bool:
    """Root becomes a uid that owns nothing; the kernel clears all capabilities on the way. (A root
    without CAP_SETUID, as in some containers, stays root: the layer is then reported missing.)"""
    try:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    except OSError:
        return False
    return os.getresuid() == (uid, uid, uid) and not _has_capabilities()


def _has_capabilities() -> bool:
    header = ctypes.create_string_buffer(struct.pack("Ii", 0x20080522, 0))  # version 3, this thread
    data = ctypes.create_string_buffer(24)
    _check(_libc().capget(header, data), "capget")
    return any(data.raw)


# --- Linux system calls through ctypes (loaded once in the zygote) --------------------------------

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 32, 1024, 2048, 4096, 16384
MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 1 << 18, 1 << 21, 1 << 24
PR_SET_PDEATHSIG, PR_SET_SECCOMP, PR_SET_NO_NEW_PRIVS = 1, 22, 38

_LIBC = None


def _libc():
    global _LIBC
    if _LIBC is None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                               ctypes.c_char_p]
        libc.unshare.argtypes = [ctypes.c_int]
        libc.syscall.restype = ctypes.c_long
        for name in ("prctl", "capset", "capget", "syscall"):
            getattr(libc, name)  # resolve now
        _LIBC = libc
    return _LIBC


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None):
    enc = (lambda s: None if s is None else s.encode())
    _check(_libc().mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def _unshare(flags: int) -> bool:
    if hasattr(os, "unshare"):  # Python >= 3.12
        try:
            os.unshare(flags)
            return True
        except OSError:
            return False
    return _libc().unshare(flags) == 0


def _unshare_namespaces(is_root: bool) -> set[str]:
    """Root: new mount and network namespaces. Others: the same inside a new user namespace that maps
    only our own uid, which grants the right to set them up (dropped again before the program)."""
    if is_root:
        if _unshare(CLONE_NEWNS | CLONE_NEWNET):
            return {"mount", "net"}
        return {name for flag, name in ((CLONE_NEWNS, "mount"), (CLONE_NEWNET, "net"))
                if _unshare(flag)}
    uid, gid = os.getuid(), os.getgid()
    for flags, names in ((CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET, {"user", "mount", "net"}),
                         (CLONE_NEWUSER | CLONE_NEWNS, {"user", "mount"}),
                         (CLONE_NEWUSER | CLONE_NEWNET, {"user", "net"})):
        if _unshare(flags):
            ok = (_try_write("/proc/self/setgroups", "deny")
                  and _try_write("/proc/self/uid_map", f"{uid} {uid} 1")
                  and _try_write("/proc/self/gid_map", f"{gid} {gid} 1"))
            return names if ok else set()
    return set()


_MOUNT_OPTION_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
                       "noatime": MS_NOATIME, "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME,
                       "strictatime": MS_STRICTATIME}
_MOUNT_SETATTR, _AT_FDCWD, _AT_RECURSIVE, _MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 1


def _make_read_only(path: str) -> None:
    """Make the mount at `path` and every mount below it read-only (in our own mount namespace).

    mount_setattr (Linux 5.12) does it in one call and leaves the other flags alone. Older kernels get a
    remount per mount, restating the nosuid/nodev/noexec/atime flags that a user namespace may not
    clear."""
    attr = struct.pack("QQQQ", _MOUNT_ATTR_RDONLY, 0, 0, 0)  # struct mount_attr
    long = ctypes.c_long
    if _libc().syscall(long(_MOUNT_SETATTR), long(_AT_FDCWD), path.encode(), long(_AT_RECURSIVE),
                       ctypes.c_char_p(attr), long(len(attr))) == 0:
        return
    inside = path.rstrip("/") + "/"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")  # \040 -> space
            if point == path or point.startswith(inside):
                keep = sum(_MOUNT_OPTION_FLAGS.get(option, 0) for option in fields[5].split(","))
                try:
                    _mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | keep)
                except OSError:
                    if point == path:
                        raise  # others may be shadowed by a mount on top: unreachable anyway


def _private_filesystem(workdir: str, limits: SandboxLimits, owner: int | None, hide: list[str],
                        python_dirs: list[str]) -> bool:
    """Inside our own mount namespace: everything read-only, a size-capped tmpfs for /tmp holding the
    working directory, and empty read-only tmpfs over /proc and the paths in `hide`."""
    try:
        _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we do here leaks out, or in
        _make_read_only("/")
        scratch = "/tmp" if workdir.startswith("/tmp/") else workdir
        size = max(limits.max_file_bytes, 65_536)
        _cover(scratch, python_dirs, read_only=False,
               options=f"size={size},nr_inodes=10000,mode={'1777' if scratch == '/tmp' else '700'}")
        os.makedirs(workdir, mode=0o700, exist_ok=True)
        if owner is not None:
            os.chown(workdir, owner, owner)
        for path in [*hide, "/proc"]:  # /proc last: the steps above read it
            real = os.path.realpath(path) if path else "/"
            if real != "/" and os.path.isdir(real) and not workdir.startswith(real + "/"):
                _cover(real, python_dirs, read_only=True, options="size=65536,nr_inodes=256,mode=755")
        return True
    except OSError:
        return False


def _python_dirs() -> list[str]:
    """The directories the interpreter reads from (its installation and its module search path)."""
    needed = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
              os.path.dirname(os.path.realpath(sys.executable)), *sys.path]
    return sorted({os.path.realpath(p) for p in needed if p and os.path.isdir(p)})


def _cover(path: str, python_dirs: list[str], read_only: bool, options: str) -> None:
    """Mount a fresh tmpfs over `path`, then mount back (read-only) the Python directories inside it so
    that imports keep working: e.g. root's ~/.pyenv, or a venv under $HOME or /tmp."""
    inside = path.rstrip("/") + "/"
    keep = [d for d in python_dirs if d.startswith(inside)]
    keep = [d for d in keep if not any(d.startswith(k + "/") for k in keep)]  # outermost only
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    if not keep:  # the common case, and the only one for /proc (after which mountinfo is gone)
        _mount("tmpfs", path, "tmpfs", flags | (MS_RDONLY if read_only else 0), options)
        return
    handles = [os.open(d, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for d in keep]
    try:
        _mount("tmpfs", path, "tmpfs", flags, options)
        for directory, fd in zip(keep, handles):
            os.makedirs(directory, mode=0o755, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", directory, None, MS_BIND | MS_REC)
            _make_read_only(directory)
        if read_only:
            _make_read_only(path)
    finally:
        for fd in handles:
            os.close(fd)


def _drop_capabilities() -> None:
    """The user namespace gave us every capability inside it; the program gets none."""
    header = struct.pack("Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = ctypes.create_string_buffer(24)  # two zeroed {effective, permitted, inheritable}
    _check(_libc().capset(ctypes.c_char_p(header), data), "capset")


# --- Landlock: unprivileged write/TCP/signal restrictions ------------------------------------------

_LL_CREATE, _LL_ADD_RULE, _LL_RESTRICT = 444, 445, 446  # same numbers on every architecture
_LL_WRITE_FILE, _LL_TRUNCATE, _LL_REFER = 1 << 1, 1 << 14, 1 << 13
_LL_WRITE_RIGHTS = sum(1 << bit for bit in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))  # write, remove, make*


def _restrict_with_landlock(workdir: str) -> bool:
    libc, long = _libc(), ctypes.c_long
    abi = libc.syscall(long(_LL_CREATE), None, long(0), long(1))  # LANDLOCK_CREATE_RULESET_VERSION
    if abi < 1:
        return False
    fs = _LL_WRITE_RIGHTS | (_LL_REFER if abi >= 2 else 0) | (_LL_TRUNCATE if abi >= 3 else 0)
    net = 0b11 if abi >= 4 else 0  # bind and connect TCP: no rule grants them
    scoped = 0b11 if abi >= 6 else 0  # abstract unix sockets and signals outside the sandbox
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    attr = ctypes.create_string_buffer(struct.pack("QQQ", fs, net, scoped)[:size], size)
    ruleset = libc.syscall(long(_LL_CREATE), attr, long(size), long(0))
    if ruleset < 0:
        return False
    try:
        for path, rights in ((workdir, fs), (os.devnull, fs & (_LL_WRITE_FILE | _LL_TRUNCATE))):
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd), 12)
                if libc.syscall(long(_LL_ADD_RULE), long(ruleset), long(1), rule, long(0)) < 0:
                    return False
            finally:
                os.close(fd)
        return libc.syscall(long(_LL_RESTRICT), long(ruleset), long(0)) == 0
    finally:
        os.close(ruleset)


# --- seccomp: a deny-list filter on system calls ----------------------------------------------------

_SYSCALLS = {  # name: (x86_64, aarch64); from the kernel's unistd headers
    "fork": (57, None), "vfork": (58, None), "clone": (56, 220), "clone3": (435, 435),
    "execve": (59, 221), "execveat": (322, 281), "socket": (41, 198), "socketpair": (53, 199),
    "ptrace": (101, 117), "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41), "chroot": (161, 51),
    "unshare": (272, 97), "setns": (308, 268), "bpf": (321, 280), "perf_event_open": (298, 241),
    "keyctl": (250, 219), "add_key": (248, 217), "request_key": (249, 218), "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106),
    "kexec_load": (246, 104), "kexec_file_load": (320, 294), "reboot": (169, 142),
    "swapon": (167, 224), "swapoff": (168, 225), "acct": (163, 89), "open_tree": (428, 428),
    "move_mount": (429, 429), "fsopen": (430, 430), "fsconfig": (431, 431), "fsmount": (432, 432),
    "fspick": (433, 433), "mount_setattr": (442, 442), "pidfd_getfd": (438, 438),
    "pidfd_send_signal": (424, 424), "open_by_handle_at": (304, 265),
}
_SIGNAL_SYSCALLS = {  # allowed only when the first argument is our own pid
    "kill": (62, 129), "tkill": (200, 130), "tgkill": (234, 131), "rt_sigqueueinfo": (129, 138),
    "rt_tgsigqueueinfo": (297, 240),
}
_AUDIT_ARCH = {"x86_64": (0, 0xC000003E), "aarch64": (1, 0xC00000B7)}


def _seccomp_filter(machine: str, own_pid: int) -> bytes | None:
    """A classic-BPF program: wrong architecture -> kill; listed calls -> EPERM; else allow."""
    if machine not in _AUDIT_ARCH:
        return None
    column, arch = _AUDIT_ARCH[machine]
    allow, deny, kill = 0x7FFF0000, 0x00050000 | errno.EPERM, 0x80000000

    def op(code, k, jt=0, jf=0):
        return struct.pack("HBBI", code, jt, jf, k)

    load, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    program = [op(load, 4), op(jeq, arch, 1, 0), op(ret, kill), op(load, 0)]
    if machine == "x86_64":  # x32 system calls would slip past the numbers below
        program += [op(jge, 0x40000000, 0, 1), op(ret, deny)]
    for numbers in _SYSCALLS.values():
        if numbers[column] is not None:
            program += [op(jeq, numbers[column], 0, 1), op(ret, deny)]
    for numbers in _SIGNAL_SYSCALLS.values():
        program += [op(jeq, numbers[column], 0, 4), op(load, 16), op(jeq, own_pid, 0, 1),
                    op(ret, allow), op(ret, deny)]
    program.append(op(ret, allow))
    return b"".join(program)


def _install_seccomp(own_pid: int) -> bool:
    program = _seccomp_filter(platform.machine(), own_pid)
    if program is None:
        return False

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

    fprog = SockFprog(len(program) // 8, program)
    return _libc().prctl(PR_SET_SECCOMP, ctypes.c_ulong(2), ctypes.byref(fprog), ctypes.c_ulong(0),
                         ctypes.c_ulong(0)) == 0


# --- the Python audit hook: clear refusals for the common cases ---------------------------------------

_REFUSED_EVENTS = {  # CPython's audit events (os.spawn* goes through os.fork)
    "subprocess.Popen": "process creation", "os.system": "process creation",
    "os.fork": "process creation", "os.forkpty": "process creation", "os.exec": "process creation",
    "os.posix_spawn": "process creation", "pty.spawn": "process creation",
    "gc.get_objects": "inspecting the interpreter", "gc.get_referrers": "inspecting the interpreter",
    "gc.get_referents": "inspecting the interpreter",
}
_PATH_EVENTS = {  # event -> positions of the arguments that name paths being changed
    "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.chmod": (0,), "os.chown": (0,),
    "os.truncate": (0,), "os.utime": (0,), "os.setxattr": (0,), "os.removexattr": (0,),
    "os.rename": (0, 1), "os.link": (1,), "os.symlink": (1,), "shutil.rmtree": (0,),
}


def _audit_hook(workdir: str):
    realpath, fsdecode, getpid = os.path.realpath, os.fsdecode, os.getpid
    inside = workdir.rstrip("/") + "/"
    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    refused, path_events = dict(_REFUSED_EVENTS), dict(_PATH_EVENTS)

    def allowed_target(path) -> bool:
        if isinstance(path, int):  # an already-open descriptor
            return True
        resolved = realpath(fsdecode(path))
        return resolved == workdir or resolved.startswith(inside) or resolved == "/dev/null"

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            if len(args) > 2 and isinstance(args[2], int) and args[2] & writing \
                    and not allowed_target(args[0]):
                raise SandboxViolation("blocked: writing outside the working directory")
        elif event in path_events:
            if not all(allowed_target(args[i]) for i in path_events[event] if i < len(args)):
                raise SandboxViolation("blocked: changing files outside the working directory")
        elif event in refused:
            raise SandboxViolation(f"blocked: {refused[event]}")
        elif event.startswith("socket."):
            raise SandboxViolation("blocked: network access")
        elif event.startswith("ctypes."):
            raise SandboxViolation("blocked: native code (ctypes)")
        elif event in ("os.kill", "os.killpg", "signal.pthread_kill"):
            if not (event == "os.kill" and args and args[0] == getpid()):
                raise SandboxViolation("blocked: signalling other processes")

    return hook
