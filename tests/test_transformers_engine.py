"""The transformers backend and the batcher, on the real SmolLM2 model (CPU, float32)."""

from __future__ import annotations

import asyncio

import torch

from conftest import gsm8k_messages
from matheval.engines.base import Request, Sampling
from matheval.engines.batcher import Batcher
from matheval.engines.stopping import cut_at_stop
from matheval.engines.transformers_engine import top_p_filter


def test_batch_one_and_batch_eight_agree(transformers_backend, data_dir):
    """Left padding must not change greedy output. On CPU float32 the padded rows give the same
    tokens as the unpadded ones (masked positions get exactly zero attention weight and position ids
    are computed from the mask); we require identical texts, not just identical answers."""
    requests = [Request(m, Sampling(max_tokens=40)) for m in gsm8k_messages(data_dir, 8)]
    single = [transformers_backend.generate_batch([r], batch_size=1)[0] for r in requests]
    batched = transformers_backend.generate_batch(requests, batch_size=8)
    lengths = {len(transformers_backend.rows_of([r])[0].prompt_ids) for r in requests}
    assert len(lengths) > 1, "the prompts must differ in length, or no padding is exercised"
    for one, eight in zip(single, batched):
        assert one.texts == eight.texts
        assert one.completion_tokens == eight.completion_tokens
        assert one.prompt_tokens == eight.prompt_tokens > 0


def test_seeded_sampling_ignores_batch_company(transformers_backend, data_dir):
    messages = gsm8k_messages(data_dir, 3)
    sampled = Sampling(max_tokens=24, temperature=0.8, top_p=0.95, n=2, seed=1234)
    alone = transformers_backend.generate_batch([Request(messages[0], sampled)], batch_size=4)[0]
    company = [Request(messages[1], Sampling(max_tokens=30)), Request(messages[0], sampled),
               Request(messages[2], Sampling(max_tokens=24, temperature=1.0, seed=7))]
    together = transformers_backend.generate_batch(company, batch_size=4)[1]
    assert alone.texts == together.texts
    assert len(alone.texts) == 2 and alone.texts[0] != alone.texts[1], "the n samples must differ"
    other_seed = transformers_backend.generate_batch(
        [Request(messages[0], Sampling(max_tokens=24, temperature=0.8, top_p=0.95, n=2, seed=99))], batch_size=4)[0]
    assert other_seed.texts != alone.texts


def test_each_row_stops_on_its_own(transformers_backend, data_dir):
    messages = gsm8k_messages(data_dir, 2)
    short, stopped = transformers_backend.generate_batch(
        [Request(messages[0], Sampling(max_tokens=5)), Request(messages[1], Sampling(max_tokens=60, stop=(".",)))],
        batch_size=2)
    assert short.completion_tokens == [5] and short.finish_reasons == ["length"]
    assert stopped.finish_reasons == ["stop"]
    assert "." not in stopped.text and stopped.text.strip()
    assert stopped.completion_tokens[0] < 60


def test_batcher_gathers_concurrent_calls(transformers_backend, data_dir):
    """Six workflows awaiting at once become two batches of three at batch size 3."""
    messages = gsm8k_messages(data_dir, 6)
    before = transformers_backend.stats.calls

    async def main():
        batcher = Batcher(transformers_backend, batch_size=3)

        async def workflow(m):
            with batcher.workflow():
                return await batcher.generate(m, Sampling(max_tokens=4))

        results = await asyncio.gather(*(workflow(m) for m in messages))
        batcher._executor.shutdown()
        return results

    results = asyncio.run(main())
    assert [r.completion_tokens for r in results] == [[4]] * 6
    assert transformers_backend.stats.calls - before == 2


def test_top_p_keeps_the_smallest_sufficient_set():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    kept = top_p_filter(probs.clone(), 0.7)
    assert torch.allclose(kept, torch.tensor([0.625, 0.375, 0.0, 0.0]))
    assert torch.equal(top_p_filter(probs.clone(), 0.1) > 0, torch.tensor([True, False, False, False]))


def test_cut_at_stop_takes_the_earliest():
    assert cut_at_stop("a\n\nb```c", ("```", "\n\n")) == "a"
    assert cut_at_stop("abc", ("x",)) is None
