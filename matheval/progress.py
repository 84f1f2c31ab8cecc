"""The progress line: it moves from the first second, not only when a problem finishes.

With a batch as large as the run, or an agent that makes several calls per problem, no problem finishes
for minutes and a bar of finished problems sits at 0/N. So the line also shows what the engine is doing,
refreshed every second: completion tokens per second (counted as they are generated where the backend
can, else as sequences finish), and the calls and sequences in flight.

    synthetic/standard:  25%|██▌       | 1/4 [00:09<00:27, acc=0.0%, tok/s=41.2, calls=3, seqs=3]
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from tqdm import tqdm

from .engines.base import Completion, Messages, Sampling

TICK_SECONDS = 1.0


@dataclass
class InFlight:
    calls: int = 0
    sequences: int = 0
    started_calls: int = 0


class Watched:
    """An engine whose calls and sequences in flight are counted (everything else is the engine's own)."""

    def __init__(self, engine, counts: InFlight):
        self._engine = engine
        self._counts = counts

    def __getattr__(self, name):
        return getattr(self._engine, name)

    async def generate(self, messages: Messages, sampling: Sampling) -> Completion:
        self._counts.calls += 1
        self._counts.started_calls += 1
        self._counts.sequences += sampling.n
        try:
            return await self._engine.generate(messages, sampling)
        finally:
            self._counts.calls -= 1
            self._counts.sequences -= sampling.n


class Progress:
    """Problems done, running accuracy, and the engines' live counters on one line."""

    def __init__(self, total: int, done: int, correct: int, description: str, engines: list, enabled: bool):
        self.counts = InFlight()
        self.engines = engines
        self.done, self.correct = done, correct
        self.started = time.perf_counter()
        self.tokens_at_start = self._tokens()
        self.bar = tqdm(total=total, initial=done, desc=description, unit="problem", disable=not enabled,
                        dynamic_ncols=True)

    def watch(self, engine):
        return Watched(engine, self.counts)

    def _tokens(self) -> int:
        return sum(engine.stats.tokens_so_far for engine in self.engines)

    def tokens_per_second(self) -> float:
        elapsed = time.perf_counter() - self.started
        return (self._tokens() - self.tokens_at_start) / elapsed if elapsed > 0 else 0.0

    def fields(self) -> dict[str, str]:
        shown = {"acc": f"{self.correct / self.done:.1%}"} if self.done else {}
        shown.update({"tok/s": f"{self.tokens_per_second():.1f}", "calls": str(self.counts.calls),
                      "seqs": str(self.counts.sequences)})
        return shown

    def refresh(self) -> None:
        self.bar.set_postfix(self.fields(), refresh=True)

    def finished_one(self, correct: bool) -> None:
        self.done += 1
        self.correct += int(correct)
        self.bar.update(1)
        self.refresh()

    async def tick(self) -> None:
        """Refresh every second until cancelled (a task beside the workflows)."""
        while True:
            self.refresh()
            await asyncio.sleep(TICK_SECONDS)

    def close(self) -> None:
        self.bar.close()
