"""`NativeEngine`: the `Engine` interface over the engine core, for many concurrent asyncio callers.

The core runs on its own thread, which owns all engine state and the GPU. Callers hand it requests
through an inbox and get completions back through futures, settled thread-safely: an asyncio caller's
event loop only ever waits on a future and is never blocked by a model step.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

from ..base import Completion, EngineOptions, Messages, Sampling
from ..chat import encode_prompt
from .config import EngineConfig
from .llm_engine import LLMEngine
from .sequence import Request


class NativeEngine:
    """Continuous-batching engine on torch + Triton (see the package docstring)."""

    name = "native"

    def __init__(self, model_path: str, options: EngineOptions | None = None):
        self.config = EngineConfig.from_options(options or EngineOptions())
        self.core = LLMEngine(model_path, self.config)
        self.config = self.core.config  # with the limits it chose for the model (max_num_seqs)
        self.tokenizer = self.core.tokenizer
        self.template_kwargs = dict((options or EngineOptions()).chat_template_kwargs)
        self.stats = self.core.stats
        self._inbox: list[tuple[str, Request, Sampling | None, bool | None]] = []
        lock = threading.Lock()
        self._wake = threading.Condition(lock)  # the engine thread waits here for work
        self._went_idle = threading.Condition(lock)  # callers of wait_until_idle wait here
        self._idle = False
        self._closed = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="native-engine", daemon=True)
        self._thread.start()

    # -- the engine thread ----------------------------------------------------------------------------------
    def _serve(self) -> None:
        if self.core.runner.on_gpu:
            import torch

            torch.cuda.set_device(self.core.runner.device)
        core = self.core
        try:
            while True:
                with self._wake:
                    while not self._inbox and not core.has_work() and not self._closed:
                        self._idle = True
                        self._went_idle.notify_all()
                        self._wake.wait()
                    self._idle = False
                    if self._closed:
                        break
                    inbox, self._inbox = self._inbox, []
                for kind, request, sampling, ignore_eos in inbox:
                    if kind == "add":
                        core.add_request(request, sampling, ignore_eos)
                    elif not request.aborted:
                        core.abort(request)
                if core.has_work():
                    core.step()
        except BaseException as exc:  # noqa: BLE001 - reported to every waiting caller
            self._error = exc
            core.fail_all(exc)
        finally:
            error = self._error or RuntimeError("the native engine was closed")
            with self._wake:
                inbox, self._inbox = self._inbox, []
                self._idle = True
                self._went_idle.notify_all()
            for kind, request, _, _ in inbox:
                if kind == "add":
                    request.on_done(None, error)
            if not self._error:
                core.fail_all(error)

    def _post(self, items) -> None:
        with self._wake:
            if self._error is not None:
                raise RuntimeError(f"the native engine stopped after an error: {self._error!r}") from self._error
            if self._closed:
                raise RuntimeError("the native engine is closed")
            self._inbox.extend(items)
            self._wake.notify()

    def _request(self, prompt, sampling: Sampling, on_done) -> Request:
        ids = list(prompt) if prompt and isinstance(prompt[0], int) else encode_prompt(self.tokenizer, prompt, self.template_kwargs)
        self.core.validate(ids, sampling)
        return Request(ids, on_done)

    # -- the Engine interface ----------------------------------------------------------------------------------
    async def generate(self, messages: Messages, sampling: Sampling) -> Completion:
        loop = asyncio.get_running_loop()
        future = loop.create_future()

        def on_done(completion, error):
            try:
                loop.call_soon_threadsafe(_settle, future, completion, error)
            except RuntimeError:  # the caller's loop is gone; nobody is waiting
                pass

        request = self._request(messages, sampling, on_done)
        self._post([("add", request, sampling, None)])
        try:
            return await future
        except asyncio.CancelledError:
            self._post([("abort", request, None, None)])
            raise

    def generate_many(self, items, ignore_eos: bool | None = None) -> list[Completion]:
        """Blocking: [(messages or prompt token ids, Sampling)] -> completions in the same order, all
        submitted at once (benchmarks, scripts)."""
        futures, posts = [], []
        for prompt, sampling in items:
            future = concurrent.futures.Future()
            request = self._request(prompt, sampling, lambda c, e, f=future: _settle(f, c, e))
            futures.append(future)
            posts.append(("add", request, sampling, ignore_eos))
        self._post(posts)
        return [f.result() for f in futures]

    def wait_until_idle(self, timeout: float | None = None) -> bool:
        """Block until the engine thread has taken every posted request or abort and has nothing left to
        run (e.g. a cancelled caller's abort, which is handled after its `generate` has already raised).
        Returns False if `timeout` seconds pass first."""
        with self._wake:
            return self._went_idle.wait_for(lambda: self._idle and not self._inbox, timeout)

    def reset_prefix_cache(self) -> None:
        """Forget cached prompt blocks (call while idle), so a benchmark never reuses earlier prompts."""
        self.core.blocks.by_hash.clear()

    def native_stats(self) -> dict:
        return self.core.native_stats()

    def startup_report(self) -> str:
        """Where start-up went, phase by phase, with Triton's kernel compile/load time inside each; once
        the run has begun, also its first prefill and first decode round (kernels compiled on first use)."""
        times = self.core.times
        graphs = self.core.runner
        lazy = f"; {len(graphs.graphs)} decode graphs captured so far in {graphs.capture_seconds:.2f}s" \
            if graphs.graph_sizes else ""
        return f"native start-up: {times.describe()}{lazy}"

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join()
        if self.core is not None and self.core.runner.on_gpu:
            import torch

            self.core = None  # weights, KV cache and graphs go with it
            torch.cuda.empty_cache()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _settle(future, completion, error) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(completion)
