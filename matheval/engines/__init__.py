"""The engine layer: the `Engine` interface (base), the backends found by name (registry), and the
pieces every backend shares (chat rendering, stop handling, HF loading, the static Batcher).

| backend        | what runs the model                          | batching                                |
| -------------- | -------------------------------------------- | --------------------------------------- |
| `transformers` | `model.generate` here                        | static batches gathered by the Batcher  |
| `continuous`   | transformers' continuous batching here       | continuous, paged KV cache              |
| `native`       | matheval's own engine here (engines/native)  | continuous, paged KV cache, CUDA graphs |
| `vllm`         | offline `vllm.LLM` here (CUDA GPU)           | vLLM's scheduler, fed by the Batcher    |
| `openai`       | any OpenAI-compatible server, over HTTP      | the server's own                        |
"""

from __future__ import annotations

from .base import Completion, Engine, EngineOptions, EngineStats, Request, Sampling
from .registry import (BACKENDS, Backend, backend, build_engine, check_engine_args, create_engine, ignored_options,
                       parse_engine_args, resolve_model)

__all__ = ["BACKENDS", "Backend", "Completion", "Engine", "EngineOptions", "EngineStats", "Request", "Sampling",
           "backend", "build_engine", "check_engine_args", "create_engine", "ignored_options", "parse_engine_args",
           "resolve_model"]
