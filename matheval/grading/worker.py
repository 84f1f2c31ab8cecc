"""A time limit for symbolic checks that holds from any thread: they run in child processes.

Why processes: math-verify's timeouts use SIGALRM, which only works in the main thread. In any other
thread nothing can stop sympy, and worse, evaluating e.g. a huge power tower is one C-level integer power
that never releases the GIL, so the whole interpreter stalls (a watchdog thread cannot even run). A child
process can always be killed.

Each child (running :func:`serve`) answers one JSON line per request on its stdout. It stops its own
overlong checks with an alarm (so that it survives and keeps its cache), the caller kills it when that is
not enough, and a CPU-time rlimit ends it even if the caller has died. POSIX only.

The pool starts children on first use (about a second each), keeps at most ``MAX_WORKERS`` of them, and
closes them at exit.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

MAX_WORKERS = max(1, min(4, os.cpu_count() or 1))
_MEMORY_LIMIT = 2 << 30  # bytes of address space: a pathological answer must not take the machine's memory
_STARTUP_LIMIT = 120.0  # seconds to import sympy and math-verify on a slow, busy machine
_SOFT_FRACTION = 0.9  # the child stops itself at this share of the limit, before the caller kills it


# The child imports this very copy of matheval (the folder above the package), not one in its working
# directory or elsewhere on the path.
_CHILD_MAIN = """
import sys
root = sys.argv[1]
if "" in sys.path:
    sys.path.remove("")
if root not in sys.path:
    sys.path.insert(0, root)
from matheval.grading.worker import serve
serve()
"""


class _Worker:
    """One child process and the pipe ends that talk to it."""

    def __init__(self) -> None:
        package_root = str(Path(__file__).resolve().parents[2])
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD_MAIN, package_root],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._pending = b""
        self.responsive = True
        if self._read_line(_STARTUP_LIMIT) != b"ready":
            self.kill()
            raise RuntimeError(
                f"the grading worker process did not start: run `{sys.executable} -c "
                f"'from matheval.grading.worker import serve; serve()'` in {package_root} to see why"
            )

    def ask(self, operation: str, arguments: list, timeout: float):
        """The child's answer, or None when it found none in time (`responsive` says if it answered)."""
        request = json.dumps([operation, arguments, timeout * _SOFT_FRACTION]) + "\n"
        try:
            self.proc.stdin.write(request.encode())
            self.proc.stdin.flush()
        except OSError:
            self.responsive = False
            return None
        line = self._read_line(timeout)
        if line is None:
            self.responsive = False
            return None
        return json.loads(line)

    def _read_line(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:  # the child died
                return None
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self._close_pipes()

    def close(self) -> None:
        """Let an idle child finish by closing its input; kill it if it does not."""
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass


_lock = threading.Lock()
_slots = threading.BoundedSemaphore(MAX_WORKERS)
_idle: list[_Worker] = []


def symbolic_check(gold: str, prediction: str, timeout: float) -> bool | None:
    """math-verify's verdict on (gold, prediction) within `timeout` seconds; None if there was none.

    Safe to call from any thread. Waiting for a free child is not counted in `timeout`.
    """
    return call("equal", [gold, prediction], timeout)


def call(operation: str, arguments: list, timeout: float):
    """One of `symbolic.OPERATIONS` run in a child within `timeout` seconds; None if it did not finish."""
    with _slots:
        worker = _take_idle() or _Worker()
        try:
            verdict = worker.ask(operation, arguments, timeout)
        except BaseException:  # interrupted mid-request: the child's state is unknown
            worker.kill()
            raise
        if not worker.responsive or not worker.alive():
            worker.kill()  # stuck in a computation its own alarm could not stop
        else:
            with _lock:
                _idle.append(worker)
        return verdict


def _take_idle() -> _Worker | None:
    """An idle child that is still alive (one may have been killed from outside), or None."""
    with _lock:
        while _idle:
            worker = _idle.pop()
            if worker.alive():
                return worker
            worker.kill()
    return None


def shutdown() -> None:
    """Close the idle children (they are started again on the next check)."""
    with _lock:
        workers = list(_idle)
        _idle.clear()
    for worker in workers:
        worker.close()


def _forget_inherited_workers() -> None:
    # A forked child must not talk to its parent's children through the pipes it inherited.
    global _lock, _slots
    _lock = threading.Lock()
    _slots = threading.BoundedSemaphore(MAX_WORKERS)
    _idle.clear()


atexit.register(shutdown)
os.register_at_fork(after_in_child=_forget_inherited_workers)


# ---- the child's side --------------------------------------------------------------------------------


class _Overtime(BaseException):
    """Raised by the child's alarm; a BaseException so that math-verify's `except Exception` lets it out."""


def _limit_resources() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or hard > _MEMORY_LIMIT:
        resource.setrlimit(resource.RLIMIT_AS, (_MEMORY_LIMIT, hard))


def _limit_cpu(seconds: float) -> None:
    """Backstop for a caller that died: the kernel ends this process after `seconds` more CPU time."""
    import resource

    used = resource.getrusage(resource.RUSAGE_SELF)
    spent = used.ru_utime + used.ru_stime
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(spent + seconds) + 2
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def serve() -> None:
    """The child's loop: one JSON request line in, one verdict line out, until stdin closes."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the caller, which closes us

    def overtime(signum, frame):
        raise _Overtime

    signal.signal(signal.SIGALRM, overtime)
    _limit_resources()
    replies = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print from a library must not corrupt the replies
    from matheval.grading.symbolic import FAILED, OPERATIONS

    replies.write(b"ready\n")
    replies.flush()
    for line in sys.stdin.buffer:
        operation, arguments, seconds = json.loads(line)
        _limit_cpu(seconds)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            verdict = OPERATIONS[operation](*arguments)
            verdict = bool(verdict) if operation == "equal" else verdict
        except _Overtime:
            verdict = None
        except Exception:  # unparsable, out of memory, too deep: not an equal answer
            verdict = FAILED[operation]
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        replies.write(json.dumps(verdict).encode() + b"\n")
        replies.flush()

