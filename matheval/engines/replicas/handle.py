"""The driver's view of one replica, whatever carries it (a local process or a Ray actor): whether it is
alive, what it has done, and the one place where its death is noticed and reported."""

from __future__ import annotations

import time
from typing import Callable

from ..base import Completion, EngineStats, Messages, ReplicaLost, Sampling


class ReplicaHandle:
    """Bookkeeping shared by the transports; subclasses send open/close/generate and call `lost`."""

    def __init__(self, index: int, label: str):
        self.index, self.label = index, label
        self.alive = True
        self.problems = 0  # workflows it finished
        self.completion_tokens = 0
        self.stats = EngineStats()
        self.started = time.perf_counter()
        self.stopped: float | None = None
        self.on_lost: Callable[[ReplicaHandle, str], None] | None = None

    # -- the transport's part --------------------------------------------------------------------------
    def wait_ready(self) -> None: ...

    def open(self, workflow: int) -> None: ...

    def close(self, workflow: int) -> None: ...

    async def send_generate(self, workflow: int, messages: Messages, sampling: Sampling) -> tuple[Completion, dict]:
        raise NotImplementedError

    def shutdown(self) -> None: ...

    # -- shared ----------------------------------------------------------------------------------------
    async def generate(self, workflow: int, messages: Messages, sampling: Sampling) -> Completion:
        if not self.alive:
            raise ReplicaLost(f"replica {self.index} is gone")
        completion, stats = await self.send_generate(workflow, messages, sampling)
        self.stats = EngineStats(**stats)
        self.completion_tokens += completion.total_completion_tokens
        return completion

    def lost(self, reason: str) -> None:
        """Called once by the transport when the replica is found dead."""
        if not self.alive:
            return
        self.alive = False
        self.stopped = time.perf_counter()
        if self.on_lost is not None:
            self.on_lost(self, reason)

    def summary(self) -> dict:
        """Problems and completion tokens per second of this replica's life, for the log and metrics."""
        seconds = (self.stopped or time.perf_counter()) - self.started
        return {"replica": self.index, "where": self.label, "problems": self.problems,
                "completion_tokens": self.completion_tokens,
                "tokens_per_second": round(self.completion_tokens / seconds, 1) if seconds > 0 else 0.0,
                "alive": self.alive}
