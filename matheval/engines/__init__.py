"""Engine registry: backend name -> a ready async Engine.

Backends are imported lazily so that a missing optional dependency (vLLM, say) only matters to
whoever chooses that backend, and then as a one-line error that says how to install it.
"""

from __future__ import annotations

from ..errors import UserError
from ..models import ModelRef
from .base import Completion, Engine, EngineOptions, EngineStats, Request, Sampling

BACKENDS = ("transformers", "native")


def create_engine(backend: str, model: ModelRef, options: EngineOptions) -> Engine:
    if backend == "transformers":
        from .batcher import Batcher
        from .transformers_engine import TransformersBackend

        return Batcher(TransformersBackend(model.path, options), batch_size=int(options.batch_size))
    if backend == "native":
        from .native import NativeEngine

        return NativeEngine(model.path, options)
    raise UserError(f"unknown --inference_backend {backend!r}: use one of {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "Completion", "Engine", "EngineOptions", "EngineStats", "Request", "Sampling", "create_engine"]
