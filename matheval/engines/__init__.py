"""Engine registry: backend name -> a ready async Engine.

Backends are imported lazily so that a missing optional dependency (vLLM, say) only matters to
whoever chooses that backend, and then as a one-line error that says how to install it.

| backend        | what runs the model                          | batching                                |
| -------------- | -------------------------------------------- | --------------------------------------- |
| `transformers` | `model.generate` here                        | static batches gathered by the Batcher  |
| `continuous`   | transformers' continuous batching here       | continuous, paged KV cache              |
| `native`       | matheval's own engine here (engines/native)  | continuous, paged KV cache, CUDA graphs |
| `vllm`         | offline `vllm.LLM` here (CUDA GPU)           | vLLM's scheduler, fed by the Batcher    |
| `openai`       | any OpenAI-compatible server, over HTTP      | the server's own                        |
"""

from __future__ import annotations

from ..errors import UserError
from ..models import ModelRef
from .base import Completion, Engine, EngineOptions, EngineStats, Request, Sampling

BACKENDS = ("transformers", "continuous", "native", "vllm", "openai")
REMOTE_BACKENDS = ("openai",)  # --model names a served model; nothing is loaded here


def create_engine(backend: str, model: ModelRef, options: EngineOptions) -> Engine:
    from .batcher import Batcher

    if backend == "transformers":
        from .transformers_engine import TransformersBackend

        static = TransformersBackend(model.path, options)
        return Batcher(static, batch_size=static_batch_size(static, options))
    if backend == "continuous":
        from .continuous_engine import ContinuousBackend

        return ContinuousBackend(model.path, options)
    if backend == "native":
        from .native import NativeEngine

        return NativeEngine(model.path, options)
    if backend == "vllm":
        from .vllm_engine import MAX_PENDING, VLLMBackend

        return Batcher(VLLMBackend(model.path, options), batch_size=MAX_PENDING)
    if backend == "openai":
        from .openai_engine import OpenAIEngine

        return OpenAIEngine(model, options)
    raise UserError(f"unknown --inference_backend {backend!r}: use one of {', '.join(BACKENDS)}")


def resolve_model(backend: str, name: str) -> ModelRef:
    """What --model means for this backend: local weights to load, or the id a server knows."""
    if backend in REMOTE_BACKENDS:
        from .openai_engine import served_model

        return served_model(name)
    from ..models import resolve

    return resolve(name)


def static_batch_size(backend, options: EngineOptions) -> int:
    """--batch_size as rows per static batch; `auto` measures what fits (engines.memory)."""
    if options.batch_size != "auto":
        return int(options.batch_size)
    from .memory import auto_batch_size

    return auto_batch_size(backend.model, backend.device, backend.dtype,
                           new_tokens=int(options.extra.get("max_new_tokens") or 1024))


__all__ = ["BACKENDS", "Completion", "Engine", "EngineOptions", "EngineStats", "Request", "Sampling", "create_engine",
           "resolve_model"]
