"""Agents against an engine with forced output lengths: the same calls, the same work, on every engine.

`ForcedEngine` sits between the agents and the engine under test. Each call:
- gets its output length drawn from the workload's length pool, seeded by the call's own seed (the `LLM`
  handle derives one per call from the run seed, the problem and the call number, so it is the same on
  every engine and at any concurrency);
- runs on the engine with exactly that many tokens (EOS disabled, stop strings dropped);
- hands the agent a scripted response of about that many tokens: reference-solution prose cut at a seeded
  offset, ending in a boxed answer that agrees with the problem's "consensus" answer 60% of the time.

So the engine generates what a real model would cost, later prompts (critiques, debate rounds) grow as
they would, and the agents' control flow (votes, stopping) is identical whatever the engine produced
(with random weights, its own text would be noise).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from dataclasses import dataclass, field, replace

import numpy as np

from ..engines.base import Completion, Messages, Sampling

CONSENSUS_SHARE = 0.6


@dataclass
class CallRecord:
    prompt_tokens: int
    output_tokens: int  # forced length
    n: int
    generated: list[int]  # what the engine reported per sample


@dataclass
class ForcedEngine:
    inner: object  # the engine under test (an async Engine)
    tokenizer: object
    length_pool: list[int]
    filler_ids: list[int]
    calls: list[CallRecord] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"forced({getattr(self.inner, 'name', '?')})"

    @property
    def stats(self):
        return self.inner.stats

    def workflow(self):
        """The Batcher flushes when every live workflow waits: pass its bookkeeping through."""
        track = getattr(self.inner, "workflow", None)
        return track() if track is not None else contextlib.nullcontext()

    def forced_length(self, seed: int) -> int:
        rng = np.random.default_rng(seed)
        return int(self.length_pool[int(rng.integers(len(self.length_pool)))])

    async def generate(self, messages: Messages, sampling: Sampling) -> Completion:
        seed = sampling.seed if sampling.seed is not None else _digest(repr(messages))
        length = self.forced_length(seed)
        completion = await self.inner.generate(messages, replace(sampling, max_tokens=length, stop=()))
        self.calls.append(CallRecord(completion.prompt_tokens, length, sampling.n, list(completion.completion_tokens)))
        texts = [scripted_response(self.tokenizer, self.filler_ids, length, seed + i, _consensus(messages))
                 for i in range(sampling.n)]
        return Completion(texts, completion.prompt_tokens, list(completion.completion_tokens),
                          list(completion.finish_reasons))

    def close(self) -> None:  # the engine under test is closed by its owner
        pass


def scripted_response(tokenizer, filler_ids: list[int], length: int, seed: int, consensus: int) -> str:
    """About `length` tokens of solution prose ending in a boxed answer."""
    rng = np.random.default_rng(seed)
    answer = consensus if rng.random() < CONSENSUS_SHARE else int(rng.integers(1, 1000))
    ending = f"\nThe answer is \\boxed{{{answer}}}."
    body = max(0, length - 12)
    start = int(rng.integers(0, max(1, len(filler_ids) - body)))
    return tokenizer.decode(filler_ids[start:start + body], skip_special_tokens=True) + ending


def _consensus(messages: Messages) -> int:
    """The answer most samples give for this problem: a function of its first user message."""
    first = next((m.get("content", "") for m in messages if m.get("role") == "user"), "")
    return 1 + _digest(first) % 999


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


async def drive_agent(agent, problems, engine: ForcedEngine, params, concurrency: int, seed: int) -> float:
    """Solve every problem as a concurrent workflow, as the runner does (no grading, no journal): wall seconds."""
    from ..agents.base import LLM

    limit = asyncio.Semaphore(max(1, concurrency))

    async def solve(problem) -> None:
        async with limit:
            with engine.workflow():
                await agent(problem, LLM(engine, seed, problem.id, 0, params), params)

    started = time.perf_counter()
    await asyncio.gather(*(solve(problem) for problem in problems))
    return time.perf_counter() - started
