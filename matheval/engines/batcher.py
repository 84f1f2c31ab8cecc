"""Gathers the concurrent `generate` calls of many workflows into batches for a static backend.

A batch is cut when it is full, or when every live workflow is waiting on the engine, or when no
workflow has produced a request for a short grace period (some are busy elsewhere, e.g. running
code in the sandbox). "Waiting" counts workflows, not requests: a workflow that awaits several
requests at once (debaters, judges, beams) is one workflow, so its requests do not make the others
look as if they were all in. A full batch holds exactly batch_size sequences: a request for n
samples that does not fit is split, its first samples in this batch and the rest in the next, each
sample keeping its own seed (the static backends seed sample i of a request with seed + i), so the
texts are the same as unsplit. The backend runs in one worker thread so the event loop stays
responsive: workflows keep grading, running code and queueing their next requests while a batch
generates.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Protocol

from .base import Completion, EngineStats, Messages, Request, Sampling

_workflow: contextvars.ContextVar[object | None] = contextvars.ContextVar("matheval_workflow", default=None)
"""The workflow the current task works for (set by Batcher.workflow, inherited by its child tasks)."""


class StaticBackend(Protocol):
    name: str
    stats: EngineStats

    def generate_batch(self, requests: list[Request], batch_size: int) -> list[Completion]: ...

    def close(self) -> None: ...


@dataclass
class _Pending:
    """A request waiting for a batch; `future` is what its caller (or a split request's join) awaits."""

    request: Request
    future: asyncio.Future
    workflow: object

    @property
    def rows(self) -> int:
        return self.request.sampling.n


class Batcher:
    """The async Engine in front of a static-batching backend."""

    def __init__(self, backend: StaticBackend, batch_size: int, grace_seconds: float = 0.05):
        self.backend = backend
        self.name = backend.name
        self.batch_size = max(1, int(batch_size))
        self.grace_seconds = grace_seconds
        self.live_workflows = 0
        self._pending: list[_Pending] = []
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
        token = _workflow.set(object())
        try:
            yield
        finally:
            _workflow.reset(token)
            self.live_workflows -= 1
            if self._arrived is not None:
                self._arrived.set()

    async def generate(self, messages: Messages, sampling: Sampling) -> Completion:
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done():
            self._arrived = asyncio.Event()
            self._worker = loop.create_task(self._serve())
        future = loop.create_future()
        self._pending.append(_Pending(Request(messages, sampling), future, _workflow.get()))
        self._arrived.set()
        completion = await future
        self.stats.requests += 1
        return completion

    def _rows_pending(self) -> int:
        return sum(item.rows for item in self._pending)

    def _workflows_waiting(self) -> int:
        return len({id(item) if item.workflow is None else id(item.workflow) for item in self._pending})

    def _ready(self) -> bool:
        return (self._rows_pending() >= self.batch_size
                or self._workflows_waiting() >= self.live_workflows > 0)

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

    def _take_batch(self) -> list[_Pending]:
        """The shortest pending prompts first, exactly batch_size rows when that many are pending (the
        request that does not fit is split), else everything pending."""
        self._pending.sort(key=lambda item: sum(len(m["content"]) for m in item.request.messages))
        batch, rows = [], 0
        while self._pending and rows < self.batch_size:
            item = self._pending.pop(0)
            room = self.batch_size - rows
            if item.rows > room:
                item, rest = self._split(item, room)
                self._pending.insert(0, rest)
            batch.append(item)
            rows += item.rows
        return batch

    def _split(self, item: _Pending, rows: int) -> tuple[_Pending, _Pending]:
        """Two parts of one n-sample request, their first `rows` samples and the rest, each seeded as
        those samples would have been; the caller's future gets the joined completion."""
        sampling = item.request.sampling
        loop = asyncio.get_running_loop()
        parts = []
        for first, n in ((0, rows), (rows, sampling.n - rows)):
            seed = None if sampling.seed is None else sampling.seed + first
            parts.append(_Pending(Request(item.request.messages, replace(sampling, n=n, seed=seed)),
                                  loop.create_future(), item.workflow))
        futures = [part.future for part in parts]
        item.future.add_done_callback(lambda done: [f.cancel() for f in futures] if done.cancelled() else None)
        loop.create_task(_join(item.future, futures))
        return parts[0], parts[1]

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            await self._settle()
            batch = self._take_batch()
            live = [item for item in batch if not item.future.cancelled()]
            if not live:
                continue
            try:
                completions = await loop.run_in_executor(
                    self._executor, self.backend.generate_batch, [item.request for item in live], self.batch_size)
            except BaseException as exc:  # hand the failure to the waiting workflows
                for item in live:
                    if not item.future.done():
                        item.future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for item, completion in zip(live, completions):
                if not item.future.done():
                    item.future.set_result(completion)

    def enable_streaming(self) -> None:
        """--detailed: the backend prints tokens as they are generated, where it can."""
        if hasattr(self.backend, "enable_streaming"):
            self.backend.enable_streaming()

    def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        abort = getattr(self.backend, "abort_generation", None)
        if abort is not None:  # a batch still generating (after Ctrl-C) is no longer wanted
            abort()
        self._executor.shutdown(wait=True)
        self.backend.close()


async def _join(target: asyncio.Future, parts: list[asyncio.Future]) -> None:
    """Resolve a split request's future with its parts' samples, in order (or the first failure)."""
    try:
        done = await asyncio.gather(*parts)
    except BaseException as exc:
        if not target.done():
            target.set_exception(exc)
        return
    if not target.done():
        target.set_result(Completion(
            texts=[text for part in done for text in part.texts], prompt_tokens=done[0].prompt_tokens,
            completion_tokens=[tokens for part in done for tokens in part.completion_tokens],
            finish_reasons=[reason for part in done for reason in part.finish_reasons]))
