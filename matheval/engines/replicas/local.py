"""Replicas on this machine: one spawned process per replica, bound to its GPU(s), talking over a pipe.

A fresh interpreter per replica (spawn, not fork) so that each one sees only its own GPUs and none of the
driver's threads or CUDA state. The replica ignores Ctrl-C (the driver decides when to stop it) and exits
when its pipe closes, so a driver killed with SIGKILL leaves no replica behind. The driver notices a dead
replica when its pipe breaks, and fails that replica's calls with ReplicaLost.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import signal
import threading

from ...errors import UserError
from ...models import ModelRef
from ..base import Completion, EngineOptions, Messages, ReplicaLost, Sampling
from .handle import ReplicaHandle


def replica_main(conn, backend: str, model: ModelRef, options: EngineOptions, env: dict, threads: int | None):
    """The replica process: build the engine, say ready, then serve until the pipe closes or says stop."""
    os.environ.update(env)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        from .server import ReplicaServer, apply_threads

        apply_threads(threads)
        server = ReplicaServer(backend, model, options)
    except UserError as exc:
        conn.send(("failed", str(exc)))
        return
    except BaseException as exc:  # noqa: BLE001 - reported to the driver, which stops the run in one line
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", os.getpid()))
    try:
        asyncio.run(_serve(conn, server))
    finally:
        server.shutdown()
    os._exit(0)  # engine threads (native) must not keep a driverless replica alive


async def _serve(conn, server) -> None:
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    send_lock = threading.Lock()

    def send(message) -> None:
        with send_lock:
            try:
                conn.send(message)
            except (BrokenPipeError, OSError):
                loop.call_soon_threadsafe(stopped.set)

    async def generate(request: int, workflow: int, messages: Messages, sampling: Sampling) -> None:
        try:
            completion = await server.generate(workflow, messages, sampling)
        except UserError as exc:
            send(("error", request, "user", str(exc)))
        except Exception as exc:  # noqa: BLE001 - the driver's caller gets it as a RuntimeError
            send(("error", request, "bug", f"{type(exc).__name__}: {exc}"))
        else:
            send(("done", request, completion, server.stats()))

    def handle(message) -> None:
        kind = message[0]
        if kind == "open":
            server.open(message[1])
        elif kind == "close":
            server.close(message[1])
        elif kind == "generate":
            loop.create_task(generate(*message[1:]))
        elif kind == "stop":
            stopped.set()

    def read() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):  # the driver is gone
                loop.call_soon_threadsafe(stopped.set)
                return
            loop.call_soon_threadsafe(handle, message)

    threading.Thread(target=read, name="replica-pipe", daemon=True).start()
    await stopped.wait()


class LocalReplica(ReplicaHandle):
    def __init__(self, index: int, backend: str, model: ModelRef, options: EngineOptions, env: dict,
                 threads: int | None, label: str):
        super().__init__(index, label)
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=replica_main, args=(child, backend, model, options, env, threads),
                                       name=f"matheval-replica-{index}", daemon=True)
        self.process.start()
        child.close()
        self.pid = self.process.pid
        self._requests = itertools.count()
        self._pending: dict[int, asyncio.Future] = {}
        self._lock = threading.Lock()

    def wait_ready(self) -> None:
        try:
            kind, detail = self.conn.recv()
        except (EOFError, OSError):
            self.process.join(5)
            raise UserError(f"replica {self.index} ({self.label}) exited with code {self.process.exitcode} while "
                            "loading the model: check memory and the model, or lower --data_parallel") from None
        if kind == "failed":
            raise UserError(f"replica {self.index} ({self.label}) could not start: {detail}")
        self.pid = detail
        threading.Thread(target=self._read, name=f"replica-{self.index}-replies", daemon=True).start()

    def _send(self, message) -> bool:
        with self._lock:
            try:
                self.conn.send(message)
                return True
            except (BrokenPipeError, OSError):
                return False

    def open(self, workflow: int) -> None:
        self._send(("open", workflow))

    def close(self, workflow: int) -> None:
        self._send(("close", workflow))

    async def send_generate(self, workflow: int, messages: Messages, sampling: Sampling) -> tuple[Completion, dict]:
        request = next(self._requests)
        future = asyncio.get_running_loop().create_future()
        self._pending[request] = future
        if not self._send(("generate", request, workflow, messages, sampling)):
            self._died()
        try:
            return await future
        finally:
            self._pending.pop(request, None)

    def _read(self) -> None:
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                self._died()
                return
            kind, request = message[0], message[1]
            future = self._pending.get(request)
            if future is None:
                continue
            if kind == "done":
                result = (message[2], message[3])
                future.get_loop().call_soon_threadsafe(_settle, future, result, None)
            else:
                error = UserError(message[3]) if message[2] == "user" else RuntimeError(message[3])
                future.get_loop().call_soon_threadsafe(_settle, future, None, error)

    def _died(self) -> None:
        if not self.alive:
            return
        self.process.join(2)
        code = self.process.exitcode
        self.lost(f"exit code {code}" if code is not None else "its pipe broke")
        for future in list(self._pending.values()):
            future.get_loop().call_soon_threadsafe(_settle, future, None, ReplicaLost(f"replica {self.index} died"))

    def shutdown(self) -> None:
        if self.process.is_alive():
            self._send(("stop",))
            self.process.join(15)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        self.alive = False
        self.conn.close()


def _settle(future: asyncio.Future, result, error) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
