"""A synchronous front end onto any async Engine, for scripts and the seed's entry points.

`SyncEngine(backend, model).generate(prompts) -> list[str]` is what a seed user calls. All prompts
of one call are submitted concurrently, so every backend batches them as it would an evaluation's
workflows. One private event loop serves the engine for its whole life: backends that bind to a
loop (HTTP clients, continuous batching) keep working across calls.
"""

from __future__ import annotations

import asyncio
import contextlib

from ..models import DEFAULT_MODEL
from . import create_engine, resolve_model
from .base import DEFAULT_MAX_NEW_TOKENS, Completion, EngineOptions, Messages, Sampling

Prompt = str | Messages


def as_messages(prompt: Prompt) -> Messages:
    """A plain string is one user turn; a list of {"role", "content"} dicts is used as given."""
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)


class SyncEngine:
    def __init__(self, backend: str = "transformers", model: str = DEFAULT_MODEL, *, batch_size: int | str | None = None,
                 device: str | None = None, dtype: str | None = None, seed: int = 0, **backend_options):
        self.backend = backend
        self.model = resolve_model(backend, model)
        self.seed = seed
        self.engine = create_engine(backend, self.model, EngineOptions(
            batch_size=batch_size, device=device, dtype=dtype, seed=seed, extra=backend_options))
        self._loop = asyncio.new_event_loop()

    @property
    def stats(self):
        return self.engine.stats

    def complete(self, prompts: list[Prompt], *, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, temperature: float = 0.0,
                 top_p: float = 1.0, top_k: int = 0, n: int = 1, stop: list[str] | tuple[str, ...] = (),
                 seed: int | None = None) -> list[Completion]:
        """One Completion per prompt (n texts each). Sampled prompts get seeds seed+0, seed+1, ...
        (default: the engine's seed), so a call is reproducible where the backend supports seeds."""
        base = self.seed if seed is None else seed
        samplings = [Sampling(max_tokens=max_new_tokens, temperature=temperature, top_p=top_p, top_k=top_k, n=n,
                              stop=tuple(stop), seed=base + index) for index in range(len(prompts))]
        track = getattr(self.engine, "workflow", None) or contextlib.nullcontext

        async def one(prompt: Prompt, sampling: Sampling) -> Completion:
            with track():
                return await self.engine.generate(as_messages(prompt), sampling)

        async def every() -> list[Completion]:
            return list(await asyncio.gather(*(one(p, s) for p, s in zip(prompts, samplings))))

        return self._loop.run_until_complete(every())

    def generate(self, prompts: list[Prompt], **sampling) -> list[str]:
        """The first text of each prompt's completion."""
        return [completion.text for completion in self.complete(prompts, **sampling)]

    def close(self) -> None:
        if not self._loop.is_closed():  # first, as asyncio.run would: loop-bound resources close on their loop
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            if pending:
                self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()
        if self.engine is not None:
            self.engine.close()
            self.engine = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
