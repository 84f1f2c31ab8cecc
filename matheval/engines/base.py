"""The engine interface every backend implements (docs/architecture.md, "The engine interface").

Agents and the runner only see `Engine.generate(messages, sampling) -> Completion`. Static-batching
backends implement `generate_batch` and sit behind `engines.batcher.Batcher`, which gathers the
concurrent `generate` calls of many workflows into batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..errors import UserError

Messages = list[dict]
DEFAULT_MAX_NEW_TOKENS = 1024  # the one default of --max_new_tokens (generation.GenerationSettings)


@dataclass(frozen=True)
class Sampling:
    """Generation parameters; map 1:1 onto vLLM SamplingParams and OpenAI request fields.

    temperature 0 means greedy. `top_k` 0 keeps every token (vLLM's -1). `seed` makes a sampled request
    reproducible on its own, whatever else shares its batch. `n > 1` asks for n samples of one prompt (one
    request, shared prompt); the local backends seed sample i of a seeded request with seed + i (or derive its
    keys from (seed, i)), so the first k samples of n are the k samples of the same request with n = k.
    """

    max_tokens: int = DEFAULT_MAX_NEW_TOKENS
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    n: int = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        """Every request is checked here, once, whichever backend serves it (user-facing flags are
        checked earlier, with their names, by generation.GenerationSettings)."""
        if self.n < 1 or self.max_tokens < 1:
            raise UserError(f"sampling needs n >= 1 and max_tokens >= 1, got n={self.n}, max_tokens={self.max_tokens}")
        if not 0.0 < self.top_p <= 1.0 or not self.temperature >= 0.0:
            raise UserError(f"sampling needs 0 < top_p <= 1 and temperature >= 0, got top_p={self.top_p}, "
                            f"temperature={self.temperature}")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0:
            raise UserError(f"sampling needs top_k >= 0 (0: off), got top_k={self.top_k!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


class ReplicaLost(RuntimeError):
    """The engine replica serving a workflow died: nothing it computed for that workflow counts, and the
    runner runs the whole problem again on another replica."""


class ReplicasExhausted(UserError):
    """Every replica of a data-parallel engine died; the runner stops (finished problems are journaled)."""


@dataclass
class Completion:
    """The n texts generated for one request, with what they cost."""

    texts: list[str]
    prompt_tokens: int
    completion_tokens: list[int]
    finish_reasons: list[str]  # "stop" (EOS or a stop string) or "length"

    @property
    def text(self) -> str:
        return self.texts[0]

    @property
    def total_completion_tokens(self) -> int:
        return sum(self.completion_tokens)


@dataclass
class Request:
    """One pending generation: chat messages plus sampling. A last message with role "assistant"
    is continued rather than answered (prefill), which step-wise agents rely on."""

    messages: Messages
    sampling: Sampling


@dataclass
class EngineStats:
    """What the engine did over a run: how well the concurrent workflows filled its batches."""

    calls: int = 0  # batches executed: generate calls, engine steps, or server requests
    requests: int = 0  # requests served
    sequences: int = 0  # sequences generated (a request with n=4 counts 4)
    batch_rows: int = 0  # sum over calls of the sequences in that call
    prompt_tokens: int = 0
    completion_tokens: int = 0
    busy_seconds: float = 0.0
    max_batch: int = 0
    retries: int = 0  # server requests retried after a transient failure (429, 5xx, timeout, lost connection)
    oom_retries: int = 0  # batches retried smaller after running out of GPU memory
    # completion tokens counted as they are generated, unfinished sequences included (the progress line's
    # tokens/s from the first second); 0 where a backend only sees finished sequences
    generated_tokens: int = 0

    @property
    def tokens_so_far(self) -> int:
        return max(self.generated_tokens, self.completion_tokens)

    @property
    def mean_batch(self) -> float:
        """Sequences per engine call: how full the batches were."""
        return self.batch_rows / self.calls if self.calls else 0.0

    def as_dict(self) -> dict:
        return {
            "engine_calls": self.calls,
            "requests": self.requests,
            "sequences": self.sequences,
            "mean_batch": round(self.mean_batch, 2),
            "max_batch": self.max_batch,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "busy_seconds": round(self.busy_seconds, 3),
            "retries": self.retries,
            "oom_retries": self.oom_retries,
        }


@runtime_checkable
class Engine(Protocol):
    """Anything that turns chat messages into completions, asynchronously."""

    name: str
    stats: EngineStats

    async def generate(self, messages: Messages, sampling: Sampling) -> Completion: ...

    def close(self) -> None: ...


@dataclass
class EngineOptions:
    """Backend construction options, checked here once; each backend reads what it needs, and
    `engines.ignored_options` names what the chosen backend does not read."""

    batch_size: int | str | None = None  # rows per static batch, or "auto"; None: not given (1 where used)
    device: str | None = None  # None: cuda if available, else cpu
    dtype: str | None = None  # None: bf16 on GPU, fp32 on CPU
    seed: int = 0
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS  # the longest answer the run asks for: sizes `auto` batches
    chat_template_kwargs: dict = field(default_factory=dict)  # passed to the chat template (enable_thinking)
    extra: dict = field(default_factory=dict)  # backend-specific (base_url, tensor_parallel_size, ...)

    def __post_init__(self) -> None:
        size = self.batch_size
        if size is not None and size != "auto" and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise UserError(f"--batch_size must be a positive integer or 'auto', got {size!r}")

    @property
    def rows(self) -> int | str:
        """--batch_size as a static backend uses it: an int (1 when not given) or "auto"."""
        return 1 if self.batch_size is None else self.batch_size


# What `matheval eval` may put in EngineOptions.extra for any backend: each backend's own CLI flags
# (cli.add_backend_flags). A backend that checks its extra options strictly ignores these, as they belong
# to another backend (`engines.ignored_options` tells the user).
SHARED_EXTRA = frozenset({"base_url", "api", "max_concurrency", "tensor_parallel_size", "gpu_memory_utilization",
                          "max_model_len"})
