"""The seed's `models.inference`: load a model once, then generate one or many responses.

    from models.inference import load_model, generate_response, generate_batch_responses
    engine = load_model("smollm2-135m", batch_size=8)
    print(generate_response(engine, "What is 2+3?", max_new_tokens=64))

A thin layer over `models.inference_engine` (itself over `matheval.engines`); batch_size 1 with the
transformers backend is the seed's original one-at-a-time path.
"""

from __future__ import annotations

from matheval import DEFAULT_MODEL

from .inference_engine import BaseInferenceEngine, create_inference_engine


def load_model(model_name: str = DEFAULT_MODEL, backend: str = "transformers", batch_size: int | str = 1,
               **options) -> BaseInferenceEngine:
    return create_inference_engine(backend, model_name, batch_size=batch_size, **options)


def generate_response(engine: BaseInferenceEngine, prompt, **sampling) -> str:
    """One prompt (a string or chat messages) -> its response text."""
    return engine.generate_single(prompt, **sampling)


def generate_batch_responses(engine: BaseInferenceEngine, prompts: list, **sampling) -> list[str]:
    """Many prompts -> their response texts, generated together."""
    return engine.generate(prompts, **sampling)
