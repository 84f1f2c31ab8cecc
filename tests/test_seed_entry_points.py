"""The seed's inference entry points: models.inference_engine, models.inference, evaluation.inference_adapter."""

from __future__ import annotations

import sys

import vllm_standin
from matheval.engines.base import Request, Sampling


def test_seed_engines_return_texts(smollm2_path, transformers_backend, monkeypatch):
    from evaluation.inference_adapter import InferenceAdapter
    from models.inference import generate_batch_responses, generate_response, load_model
    from models.inference_engine import TransformersEngine, VLLMEngine

    prompts = ["What is 2+3?", [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 7*6?"}]]
    expected = [c.text for c in transformers_backend.generate_batch(
        [Request([{"role": "user", "content": prompts[0]}], Sampling(max_tokens=8)),
         Request(prompts[1], Sampling(max_tokens=8))], batch_size=2)]

    with TransformersEngine("smollm2-135m", batch_size=2, device="cpu") as engine:
        assert engine.generate(prompts, max_new_tokens=8) == expected
        assert engine.generate_single(prompts[0], max_new_tokens=8) == expected[0]
        assert engine.stats.calls == 2  # both prompts of the first call went in one batch

    engine = load_model("smollm2-135m", batch_size=2, device="cpu")
    assert generate_response(engine, prompts[0], max_new_tokens=8) == expected[0]
    assert generate_batch_responses(engine, prompts, max_new_tokens=8) == expected
    adapter = InferenceAdapter(engine)
    assert adapter.generate_batch(prompts, max_new_tokens=8) == expected
    adapter.close()

    monkeypatch.setitem(sys.modules, "vllm", vllm_standin)  # the labelled vLLM stand-in (tests/vllm_standin.py)
    with VLLMEngine("smollm2-135m") as engine:
        assert engine.generate(prompts, max_new_tokens=8) == expected
