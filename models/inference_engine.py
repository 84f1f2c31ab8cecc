"""The seed's `models.inference_engine`: BaseInferenceEngine, TransformersEngine, VLLMEngine.

Thin synchronous wrappers over `matheval.engines` (the async engines evaluations use), for scripts
that want a list of texts back:

    from models.inference_engine import TransformersEngine
    with TransformersEngine("smollm2-135m", batch_size=8) as engine:
        texts = engine.generate(["What is 2+3?", "What is 7*6?"], max_new_tokens=128)

A prompt is a string (one user turn, chat template applied) or a list of chat messages. All prompts
of a call are generated together: in batches of `batch_size` (transformers), or handed to the
engine's own scheduler (vllm, continuous, openai).
"""

from __future__ import annotations

from matheval import DEFAULT_MODEL, SyncEngine, UserError


class BaseInferenceEngine(SyncEngine):
    """`generate(prompts, max_new_tokens, temperature, top_p, n, stop, seed) -> list[str]`;
    `complete(...)` returns Completions (all n texts, token counts, finish reasons)."""

    backend_name = "transformers"

    def __init__(self, model_name: str = DEFAULT_MODEL, batch_size: int | str = 1, **options):
        super().__init__(self.backend_name, model_name, batch_size=batch_size, **options)

    def generate_single(self, prompt, **sampling) -> str:
        return self.generate([prompt], **sampling)[0]


class TransformersEngine(BaseInferenceEngine):
    """Static batches through `model.generate` (works everywhere; `batch_size="auto"` sizes them)."""

    backend_name = "transformers"


class VLLMEngine(BaseInferenceEngine):
    """Offline vLLM (CUDA GPU; `pip install 'matheval[vllm]'`). Options: tensor_parallel_size,
    gpu_memory_utilization, max_model_len."""

    backend_name = "vllm"


class ContinuousEngine(BaseInferenceEngine):
    """transformers' continuous batching (paged KV cache)."""

    backend_name = "continuous"


class NativeInferenceEngine(BaseInferenceEngine):
    """matheval's own continuous-batching engine (CUDA GPU for speed; runs on the CPU too)."""

    backend_name = "native"


class OpenAIServerEngine(BaseInferenceEngine):
    """Any OpenAI-compatible server. Options: base_url, api ("chat" or "completions"), max_concurrency."""

    backend_name = "openai"


ENGINES = {cls.backend_name: cls for cls in (TransformersEngine, VLLMEngine, ContinuousEngine, NativeInferenceEngine,
                                             OpenAIServerEngine)}


def create_inference_engine(backend: str = "transformers", model_name: str = DEFAULT_MODEL,
                            **options) -> BaseInferenceEngine:
    """The seed's factory: an engine of the named backend."""
    if backend not in ENGINES:
        raise UserError(f"unknown backend {backend!r}: use one of {', '.join(ENGINES)}")
    return ENGINES[backend](model_name, **options)
