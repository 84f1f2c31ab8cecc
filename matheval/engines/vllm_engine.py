"""The vllm backend: offline `vllm.LLM` (the seed's VLLMEngine).

vLLM schedules continuously inside each `LLM.generate` call, so it should see as many requests at
once as possible: the Batcher in front of it flushes everything pending (up to `MAX_PENDING` rows)
in one call, with one SamplingParams per request. An unseeded request with n > 1 stays one vLLM request;
a seeded one goes as n one-sample requests seeded seed + i (see `generate_batch`). Either way prefix
caching shares the prompt's KV cache, and common prompt prefixes (few-shot examples, an agent's growing
transcript) across requests.

Prompts are rendered by `engines.chat.render_prompt` with vLLM's own tokenizer and handed over as
token ids, so vLLM sees exactly the tokens every other local backend sees (no second BOS).

vLLM is imported only when this backend is chosen; without it the user gets one line saying how to
install it and what to use instead. It cannot run on CPU-only machines (see docs/backends.md); the
adapter is tested against a stand-in of vLLM's documented API (tests/vllm_standin.py).
"""

from __future__ import annotations

import time
from dataclasses import replace

from ..errors import UserError
from ..models import ModelRef
from .base import SHARED_EXTRA, Completion, EngineOptions, EngineStats, Request
from .chat import encode_prompt

MAX_PENDING = 4096  # rows handed to one LLM.generate call at most; vLLM batches them itself
DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}  # our --dtype aliases -> vLLM's names
INSTALL_HINT = ("the vllm backend needs vLLM: pip install 'matheval[vllm]' (CUDA GPU); "
                "or use --inference_backend transformers")


def import_vllm():
    """The vllm module, or a one-line UserError that says how to get it."""
    try:
        import vllm
    except ImportError as exc:
        raise UserError(f"{INSTALL_HINT} (import failed: {exc})") from None
    return vllm


class VLLMBackend:
    """A static backend for the Batcher whose `generate_batch` is one `LLM.generate` call."""

    name = "vllm"

    def __init__(self, model_path: str, options: EngineOptions):
        self.vllm = import_vllm()
        extra = options.extra
        settings = dict(
            model=model_path,
            dtype=DTYPES.get(options.dtype or "auto", options.dtype),
            tensor_parallel_size=int(extra.get("tensor_parallel_size") or 1),
            gpu_memory_utilization=float(extra.get("gpu_memory_utilization") or 0.9),
            enable_prefix_caching=True,
            seed=options.seed,
        )
        if extra.get("max_model_len"):
            settings["max_model_len"] = int(extra["max_model_len"])
        # --engine_args: any other vllm.LLM keyword (enforce_eager, max_num_seqs, quantization, ...), as given
        settings.update({k: v for k, v in extra.items() if k not in SHARED_EXTRA})
        try:
            self.llm = self.vllm.LLM(**settings)
        except (OSError, ValueError) as exc:
            raise UserError(f"vLLM could not load {model_path!r}: {str(exc).strip().splitlines()[0]} "
                            "(check the model id, --max_model_len and --gpu_memory_utilization)") from exc
        self.tokenizer = self.llm.get_tokenizer()
        self.template_kwargs = dict(options.chat_template_kwargs)
        self.stats = EngineStats()

    def sampling_params(self, request: Request):
        sampling = request.sampling
        return self.vllm.SamplingParams(
            n=sampling.n,
            temperature=sampling.temperature,  # vLLM treats 0 as greedy
            top_p=sampling.top_p,
            top_k=sampling.top_k or -1,  # vLLM's "every token" (0 also means that from vLLM 0.10 on)
            max_tokens=sampling.max_tokens,
            stop=list(sampling.stop) or None,
            seed=sampling.seed,
        )

    def generate_batch(self, requests: list[Request], batch_size: int) -> list[Completion]:
        """All requests in one call: vLLM's scheduler decides what runs together, not batch_size.
        A seeded request for n samples is sent as n one-sample requests seeded seed, seed + 1, ... (vLLM's
        prefix cache shares their prompt), the rule of the other backends: so the batcher may split it
        across batches and a seeded run gives the same samples whatever else is pending."""
        started = time.perf_counter()
        expanded: list[tuple[int, Request]] = []
        for index, request in enumerate(requests):
            sampling = request.sampling
            if sampling.n > 1 and sampling.seed is not None:
                expanded += [(index, Request(request.messages, replace(sampling, n=1, seed=sampling.seed + i)))
                             for i in range(sampling.n)]
            else:
                expanded.append((index, request))
        prompts = [{"prompt_token_ids": encode_prompt(self.tokenizer, r.messages, self.template_kwargs)} for _, r in expanded]
        outputs = self.llm.generate(prompts, [self.sampling_params(r) for _, r in expanded], use_tqdm=False)
        completions = [Completion([], 0, [], []) for _ in requests]
        for (index, _), output in zip(expanded, outputs):
            part, whole = to_completion(output), completions[index]
            whole.prompt_tokens = part.prompt_tokens
            whole.texts += part.texts
            whole.completion_tokens += part.completion_tokens
            whole.finish_reasons += part.finish_reasons
        self.stats.calls += 1
        self.stats.sequences += sum(r.sampling.n for r in requests)
        self.stats.batch_rows += sum(r.sampling.n for r in requests)
        self.stats.max_batch = max(self.stats.max_batch, sum(r.sampling.n for r in requests))
        self.stats.prompt_tokens += sum(c.prompt_tokens for c in completions)
        self.stats.completion_tokens += sum(c.total_completion_tokens for c in completions)
        self.stats.busy_seconds += time.perf_counter() - started
        return completions

    def close(self) -> None:
        self.llm = None


def to_completion(output) -> Completion:
    """A vLLM RequestOutput -> our Completion (samples in index order; stop strings already removed)."""
    samples = sorted(output.outputs, key=lambda sample: sample.index)
    return Completion(
        texts=[sample.text for sample in samples],
        prompt_tokens=len(output.prompt_token_ids or []),
        completion_tokens=[len(sample.token_ids) for sample in samples],
        finish_reasons=[sample.finish_reason or "stop" for sample in samples],
    )


def create(model: ModelRef, options: EngineOptions):
    """vLLM behind a Batcher that hands it everything pending (up to MAX_PENDING rows) in one call."""
    from .batcher import Batcher

    return Batcher(VLLMBackend(model.path, options), batch_size=MAX_PENDING)
