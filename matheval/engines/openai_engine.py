"""The openai backend: any OpenAI-compatible server (vllm serve, SGLang, TGI, trtllm-serve, llama.cpp,
transformers serve, or OpenAI itself) through the official async `openai` client.

The server schedules; we only keep it busy. Every workflow's request goes out as soon as it is made,
up to `--max_concurrency` at once. Transient failures (429, 5xx, timeouts, dropped connections) are
retried here with exponential backoff and jitter (the client's own retries are off so that the
policy is ours, visible in EngineStats.retries, and tested). When retries run out the run stops with
one line; finished problems are already in the journal, so rerunning the command continues it.

`--api chat` sends messages and lets the server apply its chat template. `--api completions` renders
the template here with the model's tokenizer (the same text every local backend sees), which also
lets a step-wise agent continue a partial assistant message; chat mode sends such requests to the
completions endpoint for that reason. `n > 1` is asked of the server as one request; a server that
returns fewer choices (transformers serve ignores `n`) gets the rest as separate requests.

Fields beyond OpenAI's own go in the request body only when set: `top_k` and, in chat mode,
`chat_template_kwargs` (enable_thinking), both read by vLLM and SGLang. Long generations get time: each
request may run `request_timeout` seconds (600) or max_tokens / MIN_TOKENS_PER_SECOND, whichever is longer
(32,768 tokens: 6,554 s), so a reasoning model's 32k-token answer is not cut off and retried.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import threading
import time
from pathlib import Path

from ..errors import UserError
from ..models import MODELS, ModelRef
from .base import Completion, EngineOptions, EngineStats, Messages, Sampling
from .chat import continues_assistant, plain_transcript, render_prompt
from .stopping import cut_at_stop

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
DEFAULT_CONCURRENCY = 64
MIN_TOKENS_PER_SECOND = 5.0  # the slowest per-sequence decode rate a request's time limit allows for
START_HINT = ("start one, e.g. `vllm serve MODEL --port 8000` or `transformers serve MODEL --port 8000`, "
              "or point --base_url at a running server")


def served_model(name: str) -> ModelRef:
    """--model for the openai backend: the id the server knows the model by. Nothing is loaded or
    converted; a registry short name stands for its hub id, which is what `vllm serve` calls it."""
    short = next((s for s in MODELS if s.lower() == name.lower()), None)
    if short is not None:
        return ModelRef(path=MODELS[short], display=short, hub_id=MODELS[short])
    local = Path(name).expanduser()
    if local.is_dir():
        return ModelRef(path=str(local.resolve()), display=local.resolve().name)
    display = name.rstrip("/").split("/")[-1].replace(":", "-") or name
    return ModelRef(path=name, display=display, hub_id=name if name.count("/") == 1 else None)


class RetryPolicy:
    """Exponential backoff with jitter: attempt k waits base * 2**k seconds (capped), times 0.5-1.5."""

    def __init__(self, retries: int = 8, base: float = 0.5, cap: float = 30.0):
        self.retries, self.base, self.cap = retries, base, cap

    def delay(self, attempt: int) -> float:
        return min(self.cap, self.base * 2 ** attempt) * random.uniform(0.5, 1.5)


class OpenAIEngine:
    """An async Engine that forwards each request to an OpenAI-compatible HTTP server."""

    name = "openai"

    def __init__(self, model: ModelRef, options: EngineOptions):
        try:
            import openai
        except ImportError:
            raise UserError("the openai backend needs the openai package: pip install openai") from None
        self.openai = openai
        extra = options.extra
        self.base_url = (extra.get("base_url") or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.api = extra.get("api") or "chat"
        if self.api not in ("chat", "completions"):
            raise UserError(f"unknown --api {self.api!r}: use chat or completions")
        self.api_key = os.environ.get("OPENAI_API_KEY") or "EMPTY"  # local servers accept any key
        self.max_concurrency = int(extra.get("max_concurrency") or DEFAULT_CONCURRENCY)
        self.timeout = float(extra.get("request_timeout") or 600)
        self.template_kwargs = dict(options.chat_template_kwargs)
        self.policy = extra.get("retry_policy") or RetryPolicy(int(extra.get("max_retries", 8)))
        self.model = model
        self.model_id = self.check_server(model)
        self.stats = EngineStats()
        self.server_honours_n = True
        self._tokenizer = None
        self._tokenizer_tried = False
        self._tokenizer_lock = threading.Lock()  # prompts are rendered in worker threads
        self._loop = self._client = self._slots = self._closer = None

    # -- setup -------------------------------------------------------------------------------------

    def check_server(self, model: ModelRef) -> str:
        """Fail fast, in one line, when nothing answers at base_url; pick the model id the server lists."""
        client = self.openai.OpenAI(base_url=self.base_url, api_key=self.api_key, max_retries=0, timeout=10)
        try:
            listed = {entry.id for entry in client.models.list().data}
        except self.openai.APIConnectionError as exc:
            raise UserError(f"cannot reach an OpenAI-compatible server at {self.base_url} ({exc}): {START_HINT}") from None
        except self.openai.AuthenticationError:
            raise UserError(f"the server at {self.base_url} refused the API key: set OPENAI_API_KEY") from None
        except self.openai.APIStatusError:
            listed = set()  # it answers but cannot list models (transformers serve without a hub cache)
        finally:
            client.close()
        candidates = [model.path] + ([model.hub_id] if model.hub_id else []) + [model.display]
        return next((c for c in candidates if c in listed), model.path)

    def client(self):
        """One AsyncOpenAI client (and concurrency limit) per event loop: httpx pools are loop-bound.
        The client is closed when its loop shuts down (see `close_with_loop`)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._client = self.openai.AsyncOpenAI(base_url=self.base_url, api_key=self.api_key, max_retries=0,
                                                   timeout=self.timeout)
            self._slots = asyncio.Semaphore(self.max_concurrency)
            self._closer = close_with_loop(self._client)  # held here: a collected generator would close it now
            loop.create_task(anext(self._closer, None))
        return self._client

    @property
    def tokenizer(self):
        """The model's tokenizer for rendering prompts locally, or None when it cannot be had
        (a served name that is not a hub id or folder); loaded on first need."""
        with self._tokenizer_lock:
            if not self._tokenizer_tried:
                try:
                    from transformers import AutoTokenizer

                    self._tokenizer = AutoTokenizer.from_pretrained(self.model.path)
                except Exception as exc:  # noqa: BLE001 - any failure means: no local template
                    print(f"matheval: no local tokenizer for {self.model.path!r} ({type(exc).__name__}); "
                          "completions prompts use a plain Question/Answer transcript", file=sys.stderr)
                self._tokenizer_tried = True
        return self._tokenizer

    def prompt_text(self, messages: Messages) -> str:
        tokenizer = self.tokenizer
        return render_prompt(tokenizer, messages, self.template_kwargs) if tokenizer is not None else plain_transcript(messages)

    # -- generation --------------------------------------------------------------------------------

    async def generate(self, messages: Messages, sampling: Sampling) -> Completion:
        started = time.perf_counter()
        use_chat = self.api == "chat" and not continues_assistant(messages)
        prompt = None if use_chat else await asyncio.to_thread(self.prompt_text, messages)
        choices, prompt_tokens = await self.request(messages, prompt, sampling, sampling.n, sampling.seed)
        if len(choices) < sampling.n:  # the server ignored n: ask for the rest one by one
            self.server_honours_n = False
            seeds = [None if sampling.seed is None else sampling.seed + k for k in range(len(choices), sampling.n)]
            extra = await asyncio.gather(*(self.request(messages, prompt, sampling, 1, seed) for seed in seeds))
            choices += [choice for more, _ in extra for choice in more]
        completion = Completion([c[0] for c in choices], prompt_tokens, [c[1] for c in choices], [c[2] for c in choices])
        self.stats.requests += 1
        self.stats.sequences += sampling.n
        self.stats.prompt_tokens += prompt_tokens
        self.stats.completion_tokens += completion.total_completion_tokens
        self.stats.busy_seconds += time.perf_counter() - started
        return completion

    async def request(self, messages: Messages, prompt: str | None, sampling: Sampling, n: int,
                      seed: int | None) -> tuple[list[tuple[str, int, str]], int]:
        """One HTTP request (with retries): ([(text, completion tokens, finish reason)], prompt tokens)."""
        client = self.client()
        fields = dict(model=self.model_id, max_tokens=sampling.max_tokens, temperature=sampling.temperature,
                      top_p=sampling.top_p)
        if n > 1 and self.server_honours_n:
            fields["n"] = n
        if sampling.stop:
            fields["stop"] = list(sampling.stop)
        if seed is not None:
            fields["seed"] = seed
        body = {"top_k": sampling.top_k} if sampling.top_k else {}
        if prompt is None and self.template_kwargs:
            body["chat_template_kwargs"] = self.template_kwargs
        if body:
            fields["extra_body"] = body
        fields["timeout"] = max(self.timeout, sampling.max_tokens / MIN_TOKENS_PER_SECOND)
        if prompt is None:
            call = lambda: client.chat.completions.create(messages=messages, **fields)  # noqa: E731
        else:
            call = lambda: client.completions.create(prompt=prompt, **fields)  # noqa: E731
        async with self._slots:
            response = await self.with_retries(call)
        self.stats.calls += 1
        self.stats.batch_rows += len(response.choices)
        texts = [(c.message.content if prompt is None else c.text) or "" for c in response.choices]
        reasons = [c.finish_reason or "stop" for c in response.choices]
        for i, text in enumerate(texts):  # servers that keep the stop string (transformers serve) get it cut
            cut = cut_at_stop(text, sampling.stop)
            if cut is not None:
                texts[i], reasons[i] = cut, "stop"
        usage = response.usage
        total = usage.completion_tokens if usage and usage.completion_tokens is not None else 0
        shares = [total // max(1, len(texts)) + (1 if i < total % max(1, len(texts)) else 0) for i in range(len(texts))]
        prompt_tokens = usage.prompt_tokens if usage and usage.prompt_tokens is not None else 0
        return list(zip(texts, shares, reasons)), prompt_tokens

    async def with_retries(self, call):
        """Run call(); retry 429, 5xx, timeouts and lost connections with backoff; 4xx is a UserError."""
        errors = self.openai
        for attempt in range(self.policy.retries + 1):
            try:
                return await call()
            except (errors.APIConnectionError, errors.RateLimitError, errors.InternalServerError) as exc:
                if attempt == self.policy.retries:
                    raise UserError(f"the server at {self.base_url} kept failing ({describe(exc)}) after "
                                    f"{attempt} retries: finished problems are saved; check the server "
                                    "and rerun the same command to continue") from None
                self.stats.retries += 1
                await asyncio.sleep(self.policy.delay(attempt))
            except errors.APIStatusError as exc:
                raise UserError(f"the server at {self.base_url} refused the request for model {self.model_id!r} "
                                f"({describe(exc)}): check --model against the served model id") from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._client = self._loop = self._slots = self._closer = None


async def close_with_loop(client):
    """Parks at its yield until the event loop shuts down: asyncio.run closes open async generators
    (loop.shutdown_asyncgens) while the loop still runs, and the finally clause closes the client's
    connections there, instead of leaving them to be collected after the loop is gone."""
    try:
        yield
    finally:
        await client.close()


def describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    text = " ".join(str(getattr(exc, "message", exc)).split())
    return f"HTTP {status}: {text[:200]}" if status else f"{type(exc).__name__}: {text[:200]}"


def create(model: ModelRef, options: EngineOptions) -> OpenAIEngine:
    return OpenAIEngine(model, options)
