"""`ReplicatedEngine`: one `Engine` in front of N replicas, for the runner and the agents unchanged.

Dispatch is by pulling, whole problems at a time: when a workflow starts (the runner enters `workflow()`),
it is pinned to the live replica with the fewest open workflows, and every call it makes goes there, so an
agent's calls share one prefix cache and a fast replica, finishing sooner, takes more problems. When a
replica dies its workflows' calls fail with ReplicaLost and the runner solves those problems again on the
others; the run stops (ReplicasExhausted) only when none is left.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import sys
import time
from typing import Callable

from ..base import Completion, EngineStats, Messages, ReplicaLost, ReplicasExhausted, Sampling
from .handle import ReplicaHandle

_assigned: contextvars.ContextVar = contextvars.ContextVar("matheval_replica", default=None)


class ReplicatedEngine:
    def __init__(self, name: str, replicas: list[ReplicaHandle], log: Callable[[str], None] | None = None):
        self.name = name
        self.replicas = replicas
        self.log = log or (lambda line: print(f"matheval: {line}", file=sys.stderr, flush=True))
        self._open = {replica.index: 0 for replica in replicas}
        self._closing = False
        self._ids = itertools.count()
        now = time.perf_counter()
        for replica in replicas:
            replica.on_lost = self._report_loss
            replica.started = now

    def _report_loss(self, replica: ReplicaHandle, reason: str) -> None:
        if self._closing:  # a replica that exits while the engine shuts down was not lost
            return
        left = sum(1 for r in self.replicas if r.alive)
        self.log(f"replica {replica.index} ({replica.label}) died ({reason}); its {self._open[replica.index]} "
                 f"problems in flight run again on the {left} replica(s) left")

    def _pick(self) -> ReplicaHandle:
        live = [r for r in self.replicas if r.alive]
        if not live:
            raise ReplicasExhausted(f"all {len(self.replicas)} engine replicas died")
        return min(live, key=lambda r: (self._open[r.index], r.index))

    @contextlib.contextmanager
    def workflow(self):
        """Pin the workflow (one problem's run) to a replica for all of its calls."""
        replica, workflow = self._pick(), next(self._ids)
        self._open[replica.index] += 1
        replica.open(workflow)
        token = _assigned.set((replica, workflow))
        finished = False
        try:
            yield
            finished = True
        finally:
            _assigned.reset(token)
            self._open[replica.index] -= 1
            if finished and replica.alive:
                replica.problems += 1
            if replica.alive:
                replica.close(workflow)

    async def generate(self, messages: Messages, sampling: Sampling) -> Completion:
        assigned = _assigned.get()
        if assigned is None:  # a lone call (a script through SyncEngine): its own one-call workflow
            with self.workflow():
                return await self.generate(messages, sampling)
        replica, workflow = assigned
        if not replica.alive:
            raise ReplicaLost(f"replica {replica.index} is gone")
        return await replica.generate(workflow, messages, sampling)

    @property
    def stats(self) -> EngineStats:
        """The replicas' own statistics, summed (as last reported with each completion)."""
        total = EngineStats()
        for replica in self.replicas:
            for name, value in vars(replica.stats).items():
                if name == "max_batch":
                    total.max_batch = max(total.max_batch, value)
                else:
                    setattr(total, name, getattr(total, name) + value)
        return total

    def replica_summaries(self) -> list[dict]:
        return [replica.summary() for replica in self.replicas]

    def close(self) -> None:
        self._closing = True
        for replica in self.replicas:
            if replica.alive and replica.stopped is None:
                replica.stopped = time.perf_counter()
        for replica in self.replicas:
            replica.shutdown()
