"""Gathers the concurrent `generate` calls of many workflows into batches for a static backend.

A batch is flushed when it is full, or when every live workflow is waiting on the engine, or when
no workflow has produced a request for a short grace period (some are busy elsewhere, e.g. running
code in the sandbox). The backend runs in one worker thread so the event loop stays responsive:
workflows keep grading, running code and queueing their next requests while a batch generates.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from .base import Completion, EngineStats, Messages, Request, Sampling


class StaticBackend(Protocol):
    name: str
    stats: EngineStats

    def generate_batch(self, requests: list[Request], batch_size: int) -> list[Completion]: ...

    def close(self) -> None: ...


class Batcher:
    """The async Engine in front of a static-batching backend."""

    def __init__(self, backend: StaticBackend, batch_size: int, grace_seconds: float = 0.05):
        self.backend = backend
        self.name = backend.name
        self.batch_size = max(1, int(batch_size))
        self.grace_seconds = grace_seconds
        self.live_workflows = 0
        self._pending: list[tuple[Request, asyncio.Future]] = []
        self._arrived: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="matheval-engine")

    @property
    def stats(self) -> EngineStats:
        return self.backend.stats

    @contextlib.contextmanager
    def workflow(self):
        """Marks one live workflow, so a batch can be flushed as soon as all of them are waiting."""
        self.live_workflows += 1
        try:
            yield
        finally:
            self.live_workflows -= 1
            if self._arrived is not None:
                self._arrived.set()

    async def generate(self, messages: Messages, sampling: Sampling) -> Completion:
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done():
            self._arrived = asyncio.Event()
            self._worker = loop.create_task(self._serve())
        future = loop.create_future()
        self._pending.append((Request(messages, sampling), future))
        self._arrived.set()
        return await future

    def _rows_pending(self) -> int:
        return sum(request.sampling.n for request, _ in self._pending)

    def _ready(self) -> bool:
        return self._rows_pending() >= self.batch_size or len(self._pending) >= self.live_workflows > 0

    async def _settle(self) -> None:
        """Let runnable workflows queue their requests before a batch is cut."""
        quiet_spins = 0
        while not self._ready() and quiet_spins < 3:
            before = len(self._pending)
            await asyncio.sleep(0)
            quiet_spins = quiet_spins + 1 if len(self._pending) == before else 0
        while not self._ready():
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), self.grace_seconds)
            except asyncio.TimeoutError:
                return

    def _take_batch(self) -> list[tuple[Request, asyncio.Future]]:
        """The shortest pending prompts first, up to batch_size rows (at least one request)."""
        self._pending.sort(key=lambda item: sum(len(m["content"]) for m in item[0].messages))
        batch, rows = [], 0
        while self._pending and (not batch or rows + self._pending[0][0].sampling.n <= self.batch_size):
            item = self._pending.pop(0)
            batch.append(item)
            rows += item[0].sampling.n
        return batch

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            await self._settle()
            batch = self._take_batch()
            live = [(request, future) for request, future in batch if not future.cancelled()]
            if not live:
                continue
            requests = [request for request, _ in live]
            try:
                completions = await loop.run_in_executor(
                    self._executor, self.backend.generate_batch, requests, self.batch_size)
            except BaseException as exc:  # hand the failure to the waiting workflows
                for _, future in live:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            self.stats.requests += len(requests)
            for (_, future), completion in zip(live, completions):
                if not future.done():
                    future.set_result(completion)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        abort = getattr(self.backend, "abort_generation", None)
        if abort is not None:  # a batch still generating (after Ctrl-C) is no longer wanted
            abort()
        self._executor.shutdown(wait=True)
        self.backend.close()
