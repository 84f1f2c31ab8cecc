"""The continuous backend: transformers' own continuous batching (paged KV cache, a scheduler thread).

In a static batch every row waits for the longest one. Here a finished sequence leaves the batch at
once and a waiting request takes its place, so short answers never wait for long ones, and requests
go to the scheduler the moment a workflow awaits them (no Batcher in front). Results come back
through the manager's own async result handlers, which resolve each request's future on our event
loop, so workflows resume while generation goes on.

What transformers' continuous batching does not do per request, and how this backend covers it:
- sampling settings: one manager samples for everyone with per-request temperature, top-k and top-p;
  a greedy request gets top-k 1 (only the argmax survives, so the draw is the argmax).
- seeds: not supported (one generator for the whole manager); greedy results are reproducible,
  sampled ones are not, unlike the static transformers backend.
- stop strings: a request with stop strings is streamed and cancelled as soon as one appears.
- n > 1: n requests of the same prompt (with prefix sharing on, they share the prompt's cache blocks).
- out-of-memory: the paged cache is sized once (on CPU from --batch_size, see `cache_config`), then
  requests wait for free blocks instead of failing.
"""

from __future__ import annotations

import asyncio
import itertools
import time

import torch

from ..models import ModelRef
from .base import DEFAULT_MAX_NEW_TOKENS, Completion, EngineOptions, EngineStats, Messages, Sampling
from .chat import encode_prompt
from .hf_loading import load_model, model_eos_ids
from .stopping import finish_tokens, tail_has_stop

PAGE_SIZE = 256  # tokens per KV-cache page
CPU_ROWS = 32  # sequences the CPU cache is sized for when --batch_size is 1 or auto
CPU_TOKENS_PER_ROW = 1536  # a typical prompt plus a typical answer; longer ones simply wait for pages


class ContinuousBackend:
    """An async Engine over `model.init_continuous_batching()`; one manager, started on first use."""

    name = "continuous"

    def __init__(self, model_path: str, options: EngineOptions):
        self.model, self.tokenizer, self.device, self.dtype = load_model(model_path, options.device, options.dtype)
        self.eos_ids = model_eos_ids(self.model, self.tokenizer)
        self.options = options
        self.stats = EngineStats()
        self.manager = None
        self._ids = itertools.count()
        self._in_flight = 0

    # -- the manager -------------------------------------------------------------------------------

    def cache_config(self):
        """Paged-cache settings. On CPU the cache is sized explicitly (transformers would otherwise take
        60% of all RAM); on GPU transformers sizes it from free memory."""
        from transformers import ContinuousBatchingConfig

        rows = self.options.rows if self.options.rows != "auto" and self.options.rows > 1 else CPU_ROWS
        settings = dict(page_size=PAGE_SIZE, per_request_processors=True, seed=self.options.seed,
                        max_requests_per_batch=rows if self.device == "cpu" else None)
        if self.device == "cpu":
            settings["num_blocks"] = -(-rows * CPU_TOKENS_PER_ROW // PAGE_SIZE)
            settings["max_batch_tokens"] = 2048
        return ContinuousBatchingConfig(**{k: v for k, v in settings.items() if v is not None})

    def start(self) -> None:
        """A sampling manager whose temperature, top-k and top-p are set per request (each processor
        exists only if the shared config sets it to a non-neutral value, hence the placeholders)."""
        from transformers import GenerationConfig

        config = GenerationConfig(do_sample=True, temperature=0.5, top_k=50, top_p=0.9, max_new_tokens=DEFAULT_MAX_NEW_TOKENS,
                                  eos_token_id=sorted(self.eos_ids), pad_token_id=self.tokenizer.pad_token_id)
        self.manager = self.model.init_continuous_batching(generation_config=config,
                                                           continuous_batching_config=self.cache_config())
        self.manager.start()

    # -- requests ----------------------------------------------------------------------------------

    def sampling_kwargs(self, sampling: Sampling) -> dict:
        if sampling.greedy:
            return {"temperature": 1.0, "top_k": 1, "top_p": 1.0}
        return {"temperature": float(sampling.temperature),
                "top_k": int(sampling.top_k or self.model.config.vocab_size),
                "top_p": float(sampling.top_p)}

    async def generate(self, messages: Messages, sampling: Sampling) -> Completion:
        if self.manager is None:
            self.start()
        prompt = encode_prompt(self.tokenizer, messages, self.options.chat_template_kwargs)
        started = time.perf_counter()
        samples = await asyncio.gather(*(self.generate_one(prompt, sampling) for _ in range(sampling.n)))
        self.stats.requests += 1
        self.stats.sequences += sampling.n
        self.stats.prompt_tokens += len(prompt) * sampling.n
        self.stats.completion_tokens += sum(tokens for _, tokens, _ in samples)
        self.stats.busy_seconds += time.perf_counter() - started
        return Completion([text for text, _, _ in samples], len(prompt), [tokens for _, tokens, _ in samples],
                          [reason for _, _, reason in samples])

    async def generate_one(self, prompt: list[int], sampling: Sampling) -> tuple[str, int, str]:
        """One sequence through the manager: (text, completion tokens, finish reason)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        request_id = f"matheval-{next(self._ids)}"
        streaming = bool(sampling.stop)

        def on_output(output) -> None:  # runs on our event loop, called by the manager's result router
            if future.done():
                return
            if output.error is not None:
                future.set_exception(RuntimeError(f"continuous batching failed: {output.error}"))
            elif output.is_finished():
                future.set_result(list(output.generated_tokens))
            elif streaming and tail_has_stop(self.tokenizer, output.generated_tokens, sampling.stop):
                self.manager.cancel_request(request_id)
                future.set_result(list(output.generated_tokens))

        self.manager.register_result_handler(request_id, on_output)  # before add_request: no race
        self.manager.add_request(prompt, request_id=request_id, max_new_tokens=sampling.max_tokens,
                                 streaming=streaming, **self.sampling_kwargs(sampling))
        self._in_flight += 1
        # The manager's steps are not visible from here: mean_batch reports the sequences in flight
        # as each one was submitted, which is what the scheduler had to batch together.
        self.stats.calls += 1
        self.stats.batch_rows += self._in_flight
        self.stats.max_batch = max(self.stats.max_batch, self._in_flight)
        try:
            tokens = await future
        except asyncio.CancelledError:
            self.manager.cancel_request(request_id)
            raise
        finally:
            self._in_flight -= 1
        return finish_tokens(self.tokenizer, self.eos_ids, tokens, sampling)

    def close(self) -> None:
        if self.manager is not None:
            self.manager.stop(block=True, timeout=10)
            self.manager.destroy()
            self.manager = None
        self.model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def create(model: ModelRef, options: EngineOptions) -> ContinuousBackend:
    return ContinuousBackend(model.path, options)
