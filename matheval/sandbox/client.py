"""The pool's side of a zygote: start it, hand it programs, read their output, decide their results.

One I/O thread per zygote owns every descriptor: the zygote's socket, and each running program's code
(a memfd), stdout, stderr and status pipes, so callers never block. At most `workers` + a few programs
are handed to the zygote at a time (it runs `workers` and has the next ones ready to fork); the rest
wait here. A program's bytes go from this process straight to
its child and back; the zygote never reads them."""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import os
import resource
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import weakref
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import protocol, verdict
from .limits import SANDBOX_UID_BASE
from .records import DEFAULT_PRELOAD, SandboxLimits, SandboxResult
from .zygote import BOOT

STATUS_CAP = 65_536
STDERR_TAIL = 4096  # the end of stderr is kept apart from the capped text: it holds the exception


def zygote_environment() -> dict[str, str]:
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


class _Capture:
    def __init__(self, cap: int, tail: int = 0):
        self.cap, self.tail_size = cap, tail
        self.data, self.dropped, self.tail = bytearray(), 0, bytearray()

    def add(self, chunk: bytes) -> None:
        room = max(0, self.cap - len(self.data))
        self.data += chunk[:room]
        self.dropped += len(chunk) - min(room, len(chunk))
        if self.tail_size:
            self.tail = (self.tail + chunk)[-self.tail_size:]


@dataclass
class Job:
    id: int
    code: str
    limits: SandboxLimits
    future: concurrent.futures.Future
    layers: dict = field(default_factory=dict)
    streams: dict[int, str] = field(default_factory=dict)  # read descriptor -> "stdout" | "stderr" | "status"
    captures: dict[str, _Capture] = field(default_factory=dict)

    def settle(self, result: SandboxResult) -> None:
        self.code = ""  # nothing of a finished program stays in memory here longer than needed
        if not self.future.done():
            try:
                self.future.set_result(result)
            except concurrent.futures.InvalidStateError:  # cancelled meanwhile
                pass


def _failed(reason: str) -> SandboxResult:
    return SandboxResult("", "", None, False, reason, 0.0)


class Connection:
    """One zygote process, the I/O thread that serves it, and the jobs it owes a result."""

    def __init__(self, config: dict, workers: int):
        self.workers = workers
        self.in_flight = workers + min(workers, 4)
        _allow_descriptors(3 * self.in_flight + 256)
        self.closing = False
        self.dead = False
        self.inbox: deque = deque()
        self.waiting: deque[Job] = deque()
        self.running: dict[int, Job] = {}
        self.lock = threading.Lock()
        # Programs' working directories go in here; removed when the zygote exits, however it exits.
        self.root = tempfile.mkdtemp(prefix="matheval-sandbox-", dir="/tmp" if os.path.isdir("/tmp") else None)
        os.chmod(self.root, 0o711)  # a sandbox uid may pass through, not list
        self.channel, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-c", BOOT, str(Path(__file__).resolve().parents[2]),
                 json.dumps({**config, "root": self.root})],
                stdin=theirs, stdout=subprocess.DEVNULL, env=zygote_environment(), cwd="/",
                start_new_session=True, close_fds=True)
        finally:
            theirs.close()
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)
        os.set_blocking(self.wake_write, False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.channel, selectors.EVENT_READ, "zygote")
        self.selector.register(self.wake_read, selectors.EVENT_READ, "wake")
        self.thread = threading.Thread(target=self._serve, daemon=True, name="sandbox-io")
        self.thread.start()

    @property
    def alive(self) -> bool:
        return not self.dead and not self.closing and self.process.poll() is None

    def _post(self, item: tuple) -> None:
        with self.lock:  # the I/O thread closes the wake-up pipe under this lock when it ends
            if self.dead:
                if item[0] == "run":
                    item[1].settle(_failed(self.end_reason))
                return
            self.inbox.append(item)
            try:
                os.write(self.wake_write, b"x")
            except BlockingIOError:  # the pipe is full: the thread is awake anyway
                pass

    @property
    def end_reason(self) -> str:
        return "sandbox pool closed" if self.closing else "sandbox zygote exited unexpectedly"

    def submit(self, job: Job) -> None:
        self._post(("run", job))

    def cancel(self, job_id: int) -> None:
        self._post(("cancel", job_id))

    def close(self) -> None:
        self.closing = True
        self._post(("close",))
        self.thread.join(timeout=15)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    # --- the I/O thread ---------------------------------------------------------------------------

    def _serve(self) -> None:
        try:
            while self._step():
                pass
        finally:
            self._shut_down()

    def _step(self) -> bool:
        for key, _ in self.selector.select():
            if key.data == "wake":
                try:
                    os.read(self.wake_read, 4096)
                except BlockingIOError:
                    pass
                if not self._handle_inbox():
                    return False
            elif key.data == "zygote":
                try:
                    message, fds = protocol.receive(self.channel)
                except (ConnectionResetError, OSError):
                    message, fds = None, []
                for fd in fds:
                    os.close(fd)
                if message is None:
                    return False
                self._finish(message)
            else:
                job, name = key.data
                if key.fd in job.streams:
                    self._read(job, key.fd)
        while self.waiting and len(self.running) < self.in_flight:
            if not self._launch(self.waiting.popleft()):
                return False
        return True

    def _handle_inbox(self) -> bool:
        while self.inbox:
            item = self.inbox.popleft()
            if item[0] == "close":
                return False
            if item[0] == "run":
                self.waiting.append(item[1])
            elif item[1] in self.running:
                try:
                    protocol.send(self.channel, {"cancel": item[1]})
                except OSError:
                    return False
            else:
                self.waiting = deque(job for job in self.waiting if job.id != item[1])
        return True

    def _launch(self, job: Job) -> bool:
        """Hand one program to the zygote; False if the zygote is gone."""
        code_fd = _code_file(job.code)
        pipes = [os.pipe() for _ in range(3)]
        try:
            protocol.send(self.channel, {"run": job.id, "limits": asdict(job.limits)},
                          [code_fd] + [write for _, write in pipes])
        except OSError:
            for fd in [read for read, _ in pipes]:
                os.close(fd)
            self.waiting.appendleft(job)
            return False
        finally:
            for fd in [code_fd] + [write for _, write in pipes]:
                os.close(fd)
        caps = {"stdout": _Capture(job.limits.max_output_bytes),
                "stderr": _Capture(job.limits.max_output_bytes, STDERR_TAIL), "status": _Capture(STATUS_CAP)}
        job.captures = caps
        for (read, _), name in zip(pipes, ("stdout", "stderr", "status")):
            os.set_blocking(read, False)
            job.streams[read] = name
            self.selector.register(read, selectors.EVENT_READ, (job, name))
        self.running[job.id] = job
        return True

    def _read(self, job: Job, fd: int) -> None:
        while True:
            try:
                data = os.read(fd, 65_536)
            except BlockingIOError:
                return
            if not data:
                self._close_stream(job, fd)
                return
            job.captures[job.streams[fd]].add(data)

    def _close_stream(self, job: Job, fd: int) -> None:
        self.selector.unregister(fd)
        os.close(fd)
        del job.streams[fd]

    def _finish(self, facts: dict) -> None:
        job = self.running.pop(facts.get("id"), None)
        if job is None:
            return
        for fd in list(job.streams):  # the child is gone: what it wrote is all there, then end of file
            self._read(job, fd)
        for fd in list(job.streams):
            self._close_stream(job, fd)
        status = verdict.parse_status(bytes(job.captures["status"].data))
        job.layers = status.get("layers", {})
        out, err = job.captures["stdout"], job.captures["stderr"]
        job.settle(verdict.result(facts, job.limits, status, (bytes(out.data), out.dropped),
                                  (bytes(err.data), err.dropped), bytes(err.tail)))

    def _shut_down(self) -> None:
        with self.lock:
            self.dead = True
        self.channel.close()  # end of input: the zygote kills its programs, cleans up and exits
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)
        reason = self.end_reason
        for job in list(self.running.values()) + list(self.waiting):
            for fd in list(job.streams):
                self._close_stream(job, fd)
            job.settle(_failed(reason))
        with self.lock:
            while self.inbox:
                item = self.inbox.popleft()
                if item[0] == "run":
                    item[1].settle(_failed(reason))
            self.selector.close()
            for fd in (self.wake_read, self.wake_write):
                os.close(fd)
        self.running.clear()
        self.waiting.clear()


def _allow_descriptors(needed: int) -> None:
    """Raise this process's soft limit on open files if the pipes of the programs in flight need it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        wanted = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
        except (ValueError, OSError):
            pass


def _code_file(code: str) -> int:
    """The program's source in an anonymous file, read by the child (the zygote passes it on unread)."""
    data = code.encode("utf-8", errors="surrogatepass")
    try:
        fd = os.memfd_create("program", os.MFD_CLOEXEC)
    except (AttributeError, OSError):
        handle = tempfile.TemporaryFile()
        fd = os.dup(handle.fileno())
        handle.close()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


class ZygoteClient:
    """Submits programs to a zygote and hands back results through futures. If the zygote dies, its
    programs get an error result and the next submit starts a new one."""

    def __init__(self, workers: int, preload: tuple[str, ...], python_guard: bool = True,
                 disabled: tuple[str, ...] = ()):
        self._config = {
            "workers": workers,
            "preload": list(preload),
            "importable": list(DEFAULT_PRELOAD),  # what programs may import (preloaded or not)
            "python_guard": python_guard,
            "uid_base": SANDBOX_UID_BASE,
            "disabled": list(disabled),  # layers left off: only the tests use this, to test each layer alone
            "parent": os.getpid(),  # shows in `ps`: which process a zygote (and its forks) serve
        }
        self._workers = workers
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._closed = False
        self._connection = Connection(self._config, workers)
        self._finalizer = weakref.finalize(self, Connection.close, self._connection)

    def submit(self, code: str, limits: SandboxLimits) -> Job:
        if not isinstance(code, str):
            raise TypeError(f"code must be a str, not {type(code).__name__}")
        limits = limits.checked()
        with self._lock:
            if self._closed:
                raise RuntimeError("sandbox pool is closed")
            if not self._connection.alive:
                self._finalizer()
                self._connection = Connection(self._config, self._workers)
                self._finalizer = weakref.finalize(self, Connection.close, self._connection)
            job = Job(next(self._ids), code, limits, concurrent.futures.Future())
            self._connection.submit(job)
        return job

    def cancel(self, job_id: int) -> None:
        self._connection.cancel(job_id)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._finalizer()
