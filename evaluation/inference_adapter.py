"""The seed's `evaluation.inference_adapter`: the bridge between agent code and an inference engine.

Agents in matheval are async workflows that await `LLM.generate` (matheval.agents.base); the runner
gives every workflow such a handle over one shared engine, so this adapter is only needed by
synchronous, seed-style agent code: it hands out responses one prompt or one batch at a time.

    from evaluation.inference_adapter import InferenceAdapter
    adapter = InferenceAdapter.load("smollm2-135m", backend="transformers", batch_size=8)
    answers = adapter.generate_batch(["What is 2+3?", "What is 7*6?"], max_new_tokens=64)
"""

from __future__ import annotations

from matheval import DEFAULT_MODEL
from models.inference_engine import BaseInferenceEngine, create_inference_engine


class InferenceAdapter:
    def __init__(self, engine: BaseInferenceEngine):
        self.engine = engine

    @classmethod
    def load(cls, model_name: str = DEFAULT_MODEL, backend: str = "transformers", **options) -> "InferenceAdapter":
        return cls(create_inference_engine(backend, model_name, **options))

    def generate(self, prompt, **sampling) -> str:
        return self.engine.generate_single(prompt, **sampling)

    def generate_batch(self, prompts: list, **sampling) -> list[str]:
        return self.engine.generate(prompts, **sampling)

    def close(self) -> None:
        self.engine.close()
