"""The continuous backend: transformers' continuous batching on the real SmolLM2 model (CPU)."""

from __future__ import annotations

import asyncio
import time

import pytest

from conftest import gsm8k_messages, tiny_eval
from matheval.engines.base import EngineOptions, Request, Sampling
from matheval.engines.continuous_engine import ContinuousBackend


@pytest.fixture(scope="module")
def continuous(smollm2_path):
    engine = ContinuousBackend(smollm2_path, EngineOptions(device="cpu", batch_size=8))
    yield engine
    engine.close()


def test_greedy_text_equals_static_batching_and_short_answers_leave_early(continuous, transformers_backend,
                                                                         data_dir):
    """Greedy rows (top-k 1 inside a sampling manager) give exactly the static backend's text, a stop
    string ends its row early, and a workflow's second short request is admitted and finished while
    a long request that started before it is still generating."""
    messages = gsm8k_messages(data_dir, 3)
    long, short, stopped = Sampling(max_tokens=40), Sampling(max_tokens=3), Sampling(max_tokens=40, stop=(" need",))
    finished = {}

    async def workflow(name, message, samplings):
        results = []
        for sampling in samplings:
            results.append(await continuous.generate(message, sampling))
        finished[name] = time.perf_counter()
        return results

    async def main():
        return await asyncio.gather(workflow("long", messages[0], [long]),
                                    workflow("short", messages[1], [short, short]),
                                    workflow("stopped", messages[2], [stopped]))

    (long_result,), (first, second), (stop_result,) = asyncio.run(main())
    static = transformers_backend.generate_batch([Request(messages[0], long), Request(messages[1], short),
                                                  Request(messages[2], stopped)], batch_size=3)
    assert long_result.texts == static[0].texts and long_result.completion_tokens == [40]
    assert first.texts == second.texts == static[1].texts and first.completion_tokens == [3]
    assert stop_result.texts == static[2].texts and stop_result.finish_reasons == ["stop"]
    assert stop_result.completion_tokens == static[2].completion_tokens
    assert finished["short"] < finished["long"], "the short workflow must not wait for the long row"
    assert continuous.stats.max_batch >= 3


def test_sampled_and_greedy_requests_share_the_manager(continuous, transformers_backend, data_dir):
    message = gsm8k_messages(data_dir, 1)[0]

    async def main():
        return await asyncio.gather(continuous.generate(message, Sampling(max_tokens=8, temperature=1.0, n=3)),
                                    continuous.generate(message, Sampling(max_tokens=8)))

    sampled, greedy = asyncio.run(main())
    assert len(sampled.texts) == 3 and all(t == 8 for t in sampled.completion_tokens)
    assert greedy.texts == transformers_backend.generate_batch([Request(message, Sampling(max_tokens=8))], 1)[0].texts


def test_evaluation_runs_on_the_continuous_backend(smollm2_path, tmp_path):
    outcome = tiny_eval(tmp_path, backend="continuous", count=2, max_tokens=16)
    assert outcome.summary.count == 2 and outcome.row["engine_calls"] == 2
