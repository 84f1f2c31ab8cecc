"""The vllm backend's adapter, tested against a STAND-IN of vLLM (tests/vllm_standin.py).

vLLM itself cannot be installed on our CPU-only machines, so these tests inject a module that mimics
vLLM's documented offline API (LLM, SamplingParams, RequestOutput, CompletionOutput, with their real
field names and stop/greedy semantics) as `vllm` in sys.modules, for each test only. The stand-in runs
the real SmolLM2 model underneath, so texts are real; it does not reproduce vLLM's scheduling or
speed. What is tested is the adapter: constructor and sampling settings, one generate call for all
pending requests, n > 1 as one request, prompts as the same token ids as every local backend, and
the mapping of outputs back to Completions.
"""

from __future__ import annotations

import asyncio
import sys

import pytest

import vllm_standin
from conftest import gsm8k_messages, tiny_eval
from matheval.engines import create_engine
from matheval.engines.base import EngineOptions, Request, Sampling
from matheval.errors import UserError
from matheval.models import resolve


@pytest.fixture
def standin_vllm(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", vllm_standin)
    return vllm_standin


def test_without_vllm_the_error_says_how_to_install(monkeypatch, smollm2_path):
    monkeypatch.setitem(sys.modules, "vllm", None)  # `import vllm` now raises ImportError
    with pytest.raises(UserError) as caught:
        create_engine("vllm", resolve("smollm2-135m"), EngineOptions())
    message = str(caught.value)
    assert message.startswith("the vllm backend needs vLLM: pip install 'matheval[vllm]' (CUDA GPU); "
                              "or use --inference_backend transformers")
    assert "\n" not in message


def test_pending_requests_go_to_vllm_together(standin_vllm, smollm2_path, transformers_backend, data_dir):
    """Five concurrent workflows -> one LLM.generate call (the seeded n=2 request as two one-sample
    requests seeded 7 and 8, as the other backends seed samples), LLM built with our settings, greedy
    texts identical to the transformers backend's."""
    options = EngineOptions(seed=3, dtype="bf16", extra={"tensor_parallel_size": 2, "gpu_memory_utilization": 0.5,
                                                          "max_model_len": 2048})
    engine = create_engine("vllm", resolve("smollm2-135m"), options)
    messages = gsm8k_messages(data_dir, 4)
    greedy = [Sampling(max_tokens=12), Sampling(max_tokens=12), Sampling(max_tokens=30, stop=(" need",))]
    sampled = Sampling(max_tokens=8, temperature=0.8, top_p=0.95, n=2, seed=7)

    async def main():
        async def workflow(message, sampling):
            with engine.workflow():
                return await engine.generate(message, sampling)

        return await asyncio.gather(*(workflow(m, s) for m, s in zip(messages, greedy + [sampled])),
                                    workflow(messages[0], Sampling(max_tokens=5)))

    results = asyncio.run(main())
    llm = engine.backend.llm
    engine.close()

    assert llm.kwargs == {"dtype": "bfloat16", "tensor_parallel_size": 2, "gpu_memory_utilization": 0.5,
                          "enable_prefix_caching": True, "seed": 3, "max_model_len": 2048}
    assert len(llm.generate_calls) == 1 and len(llm.generate_calls[0]) == 6
    by_max_tokens = {params.max_tokens: params for _, params in llm.generate_calls[0]}
    samples = [params for _, params in llm.generate_calls[0] if params.max_tokens == 8]
    assert [(s.n, s.seed, s.top_p) for s in samples] == [(1, 7, 0.95), (1, 8, 0.95)]
    assert by_max_tokens[30].stop == [" need"] and by_max_tokens[12].temperature == 0.0

    local = transformers_backend.generate_batch([Request(m, s) for m, s in zip(messages, greedy)], batch_size=3)
    for mine, theirs in zip(results[:3], local):
        assert mine.texts == theirs.texts and mine.prompt_tokens == theirs.prompt_tokens
    assert results[0].completion_tokens == [12] and results[0].finish_reasons == ["length"]
    stopped = results[2]
    assert stopped.finish_reasons == ["stop"] and "need" not in stopped.text and stopped.text.strip()
    assert len(results[3].texts) == 2 and results[3].completion_tokens == [8, 8]
    assert results[4].completion_tokens == [5]


def test_evaluation_runs_on_the_vllm_backend(standin_vllm, smollm2_path, tmp_path):
    outcome = tiny_eval(tmp_path, backend="vllm", count=2, max_tokens=16)
    assert outcome.summary.count == 2 and outcome.row["engine_calls"] == 1
