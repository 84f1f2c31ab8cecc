"""What runs inside a replica: one engine of the chosen backend, serving the driver's workflows.

The driver tells the replica when each of its workflows opens and closes, so that a static backend's
Batcher still knows how many workflows are live and flushes a batch once all of them wait, exactly as it
does in a single process. Each workflow gets its own context (the Batcher's workflow variable set in it),
and its generate calls run in that context. The same server sits behind a local process (local.py) and a
Ray actor (ray_replica.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
from dataclasses import asdict

from ...models import ModelRef
from ..base import Completion, EngineOptions, Messages, Sampling


def apply_threads(threads: int | None) -> None:
    """A CPU replica's share of the cores, set before torch starts its pools."""
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)
        import torch

        torch.set_num_threads(threads)


class ReplicaServer:
    def __init__(self, backend: str, model: ModelRef, options: EngineOptions):
        from ..registry import create_engine

        self.engine = create_engine(backend, model, options)
        self._workflows: dict[int, tuple[contextvars.Context, contextlib.ExitStack]] = {}

    def open(self, workflow: int) -> None:
        if workflow in self._workflows:
            return
        context, stack = contextvars.copy_context(), contextlib.ExitStack()
        if hasattr(self.engine, "workflow"):
            context.run(stack.enter_context, self.engine.workflow())
        self._workflows[workflow] = (context, stack)

    def close(self, workflow: int) -> None:
        entry = self._workflows.pop(workflow, None)
        if entry is not None:
            context, stack = entry
            context.run(stack.close)

    async def generate(self, workflow: int, messages: Messages, sampling: Sampling) -> Completion:
        self.open(workflow)  # a generate that overtook its open (Ray does not order async calls)
        context, _ = self._workflows[workflow]
        return await context.run(asyncio.ensure_future, self.engine.generate(messages, sampling))

    def stats(self) -> dict:
        return asdict(self.engine.stats)

    def shutdown(self) -> None:
        for workflow in list(self._workflows):
            self.close(workflow)
        self.engine.close()
