"""The native engine against transformers, on the real SmolLM2-135M (fp32, CPU).

The engine under test is real throughout: real weights, real tokenizer, real scheduling. Greedy
outputs must be token-identical to transformers' `generate(do_sample=False)` run one prompt at a time,
whether the prompts share a batch, arrive staggered, or are preempted for lack of KV blocks.
"""

from __future__ import annotations

import asyncio

import pytest
import torch

from matheval.engines.base import EngineOptions, Sampling
from matheval.engines.chat import encode_prompt
from matheval.engines.native import NativeEngine
from matheval.engines.native.model_runner import rerun_capture
from matheval.engines.native.sampler import gumbel_noise, top_p_mask
from matheval.errors import UserError
from matheval.models import resolve

torch.set_num_threads(2)

NEW_TOKENS = 48
QUESTIONS = [
    "What is 12*7? Answer briefly.",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?",
    "Solve for x: 3x + 5 = 20.",
    "A rectangle has length 8 and width 3. What is its area and perimeter?",
    "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she earn?",
]
CONVERSATIONS = [[{"role": "user", "content": q}] for q in QUESTIONS] + [
    # a system prompt, and a trailing assistant message that is continued rather than answered
    [
        {"role": "system", "content": "You are a careful math tutor. Show your reasoning."},
        {"role": "user", "content": "What is the sum of the first 10 positive integers?"},
        {"role": "assistant", "content": "Let's add them in pairs:"},
    ]
]
GREEDY = Sampling(max_tokens=NEW_TOKENS)


@pytest.fixture(scope="module")
def model_path() -> str:
    return resolve("smollm2-135m").path


@pytest.fixture(scope="module")
def engine(model_path):
    """Four decode steps per host round (the GPU default is 8): every test below also checks that tokens
    sampled on the device and fed to the next step, and sequences ending mid-round, change nothing."""
    engine = NativeEngine(model_path, EngineOptions(extra={"num_kv_blocks": 512, "decode_steps": 4}))
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def hf_model(model_path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32, attn_implementation="sdpa").eval()


def hf_greedy(hf_model, prompt_ids: list[int], new_tokens: int) -> list[int]:
    with torch.no_grad():
        out = hf_model.generate(
            torch.tensor([prompt_ids]), attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
            max_new_tokens=new_tokens, do_sample=False, pad_token_id=0,
        )  # fmt: skip
    return out[0, len(prompt_ids) :].tolist()


@pytest.fixture(scope="module")
def prompts(engine) -> list[list[int]]:
    return [encode_prompt(engine.tokenizer, c) for c in CONVERSATIONS]


@pytest.fixture(scope="module")
def reference(hf_model, prompts) -> list[list[int]]:
    """transformers' greedy tokens, each prompt on its own (no padding, no batching effects)."""
    return [hf_greedy(hf_model, p, NEW_TOKENS) for p in prompts]


def test_greedy_batched_matches_transformers(engine, prompts, reference):
    steps_before, before = engine.stats.calls, engine.native_stats()
    completions = engine.generate_many([(c, GREEDY) for c in CONVERSATIONS])
    assert engine.stats.calls - steps_before <= NEW_TOKENS + 1  # all six decoded together
    after = engine.native_stats()
    assert after["decode_steps"] - before["decode_steps"] >= 3 * (after["decode_rounds"] - before["decode_rounds"])
    for completion, prompt, expected in zip(completions, prompts, reference):
        assert completion.token_ids[0] == expected
        assert completion.prompt_tokens == len(prompt)
        assert completion.completion_tokens == [len(expected)]
        assert completion.text == engine.tokenizer.decode(expected, skip_special_tokens=True)
    # the first question ends on EOS well before the limit, the others run to it
    assert completions[0].finish_reasons == ["stop"] and len(reference[0]) < NEW_TOKENS
    assert completions[1].finish_reasons == ["length"]


def test_staggered_arrivals_match_transformers(engine, reference):
    """Requests join while others are mid-decode (continuous batching) and still match."""
    before = engine.native_stats()

    async def staggered():
        async def one(i):
            await asyncio.sleep(0.4 * i)
            return await engine.generate(CONVERSATIONS[i], GREEDY)

        return await asyncio.gather(*(one(i) for i in range(len(CONVERSATIONS))))

    completions = asyncio.run(staggered())
    after = engine.native_stats()
    assert after["prefill_steps"] - before["prefill_steps"] >= 3  # they really arrived at different times
    for completion, expected in zip(completions, reference):
        assert completion.token_ids[0] == expected


@pytest.mark.parametrize("decode_steps", [1, 4])
def test_preemption_under_a_small_cache_keeps_outputs(model_path, prompts, reference, decode_steps):
    """16 blocks of 16 tokens cannot hold four sequences to the end: some are preempted and recomputed
    (with multi-step rounds, a round that cannot reserve its blocks falls back to one step)."""
    with NativeEngine(model_path, EngineOptions(extra={"num_kv_blocks": 16, "decode_steps": decode_steps})) as small:
        completions = small.generate_many([(p, GREEDY) for p in prompts[1:5]])
        assert small.native_stats()["preemptions"] > 0
    for completion, expected in zip(completions, reference[1:5]):
        assert completion.token_ids[0] == expected


@pytest.mark.parametrize("lazy", [False, True])
def test_decode_buckets_pad_without_disturbing_real_sequences(model_path, prompts, reference, lazy):
    """The CUDA-graph input path on the CPU: decode batches go through the static buffers, padded up to a
    bucket size with rows that only touch the scratch block. Graph replay needs a GPU, so a plain re-run
    of the captured function stands in for it. Lazily, a bucket is captured when a batch first needs it,
    in the middle of the run, after other buckets' rounds have left real rows in the buffers."""
    extra = {"num_kv_blocks": 256, "max_num_seqs": 24, "decode_steps": 3}
    with NativeEngine(model_path, EngineOptions(extra=extra)) as engine:
        runner = engine.core.runner
        runner._capture_graphs(capture=rerun_capture, lazy=lazy)
        assert runner.graph_sizes == [1, 2, 4, 8, 16, 24]
        assert sorted(runner.graphs) == ([] if lazy else [1, 2, 4, 8, 16, 24])
        completions = engine.generate_many([(p, GREEDY) for p in prompts])  # 6, then 5 rows, in the bucket of 8
        if lazy:
            assert 8 in runner.graphs and 16 not in runner.graphs and 24 not in runner.graphs
            assert runner.capture_seconds > 0
    for completion, expected in zip(completions, reference):
        assert completion.token_ids[0] == expected


def test_prefix_sharing_hits_and_is_exact(engine, hf_model, prompts):
    before = engine.native_stats()
    # n samples of one prompt share its blocks (greedy: all n are the same)
    prompt = prompts[1]
    full_blocks = (len(prompt) - 1) // 16
    completion = engine.generate_many([(prompt, Sampling(max_tokens=8, n=4))])[0]
    after = engine.native_stats()
    # the three later samples find every full prompt block (the first may find them cached from earlier tests)
    assert after["prefix_hit_blocks"] - before["prefix_hit_blocks"] >= 3 * full_blocks
    assert len(set(map(tuple, completion.token_ids))) == 1

    # an agent's follow-up call repeats the conversation so far: only the new part is computed
    follow_up = CONVERSATIONS[1] + [
        {"role": "assistant", "content": completion.texts[0]},
        {"role": "user", "content": "Now double that number."},
    ]
    follow_ids = encode_prompt(engine.tokenizer, follow_up)
    before = engine.native_stats()
    result = engine.generate_many([(follow_up, Sampling(max_tokens=16))])[0]
    after = engine.native_stats()
    assert after["prefix_hit_tokens"] - before["prefix_hit_tokens"] >= full_blocks * 16
    assert after["prefill_tokens"] - before["prefill_tokens"] <= len(follow_ids) - full_blocks * 16
    assert result.token_ids[0] == hf_greedy(hf_model, follow_ids, 16)


def test_seeded_sampling_is_reproducible_and_batch_independent(engine, model_path, prompts):
    sampled = Sampling(max_tokens=24, temperature=0.8, top_p=0.9, n=3, seed=1234)
    alone = engine.generate_many([(prompts[3], sampled)])[0]
    crowd = engine.generate_many(
        [(prompts[0], GREEDY), (prompts[3], sampled), (prompts[2], Sampling(max_tokens=30, temperature=1.0)),
         (prompts[4], Sampling(max_tokens=20, temperature=0.7, seed=9, n=2))]
    )  # fmt: skip
    assert crowd[1].token_ids == alone.token_ids
    assert crowd[1].texts == alone.texts
    assert len(set(map(tuple, alone.token_ids))) > 1  # the n samples differ
    other_seed = engine.generate_many([(prompts[3], Sampling(max_tokens=24, temperature=0.8, top_p=0.9, n=3, seed=99))])
    assert other_seed[0].token_ids != alone.token_ids
    with NativeEngine(model_path, EngineOptions(extra={"num_kv_blocks": 64, "decode_steps": 1})) as one:
        assert one.generate_many([(prompts[3], sampled)])[0].token_ids == alone.token_ids  # same draws, step by step


def test_async_scheduling_gives_the_lock_step_tokens(engine, model_path, prompts, reference):
    """The module's engine plans and launches each step before reading the previous one back; an engine
    in lock step reads every step first. Sequences ending mid-round (EOS, a stop string, max_tokens),
    seeded samples and greedy ones sharing the batch: the same tokens and texts either way."""
    stop = engine.tokenizer.decode(reference[3], skip_special_tokens=True).split()[6]
    mixed = [(prompts[0], GREEDY), (prompts[3], Sampling(max_tokens=NEW_TOKENS, stop=(stop,))),
             (prompts[1], Sampling(max_tokens=5)), (prompts[2], Sampling(max_tokens=30, temperature=0.8, top_p=0.9, n=3, seed=7)),
             (prompts[4], Sampling(max_tokens=21, temperature=1.0, seed=3)), (prompts[5], GREEDY)]  # fmt: skip
    before = engine.native_stats()["steps_launched_ahead"]
    ahead = engine.generate_many(mixed)
    assert engine.native_stats()["steps_launched_ahead"] > before
    extra = {"num_kv_blocks": 512, "decode_steps": 4, "async_scheduling": False}
    with NativeEngine(model_path, EngineOptions(extra=extra)) as lock_step:
        in_step = lock_step.generate_many(mixed)
        assert lock_step.native_stats()["steps_launched_ahead"] == 0
    assert ahead[1].finish_reasons == ["stop"] and ahead[2].finish_reasons == ["length"]
    for a, b in zip(ahead, in_step):
        assert (a.token_ids, a.texts, a.finish_reasons, a.completion_tokens) == (
            b.token_ids, b.texts, b.finish_reasons, b.completion_tokens)


def test_gumbel_sampling_follows_the_softmax():
    """Many independent keys on one logit row: token frequencies approach softmax(logits / T)."""
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0, 0.5])
    draws = 20000
    keys = torch.arange(draws, dtype=torch.int64)
    noise = gumbel_noise(keys * 7919, keys * 104729 + 3, torch.zeros(draws, dtype=torch.int64), logits.numel())
    for temperature in (1.0, 0.5):
        picks = (logits / temperature + noise).argmax(-1)
        freq = torch.bincount(picks, minlength=logits.numel()).float() / draws
        assert torch.allclose(freq, (logits / temperature).softmax(-1), atol=0.015)


def test_top_p_keeps_the_smallest_nucleus_and_all_ties_at_its_edge():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0], [0.0, 0.0, 0.0, 5.0], [1.0, 2.0, 2.0, 0.0]])
    probs = logits.softmax(-1)  # row 0: 0.64, 0.24, 0.09, 0.03
    kept = top_p_mask(logits, torch.tensor([0.8, 0.5, 0.3])) > float("-inf")
    # row 2: one of the two tokens at 2.0 would reach 0.3; its tie is kept too, whatever a sort's order
    assert kept.tolist() == [[True, True, False, False], [False, False, False, True], [False, True, True, False]]
    assert probs[0, :2].sum() >= 0.8


def test_stop_strings_and_max_tokens(engine, prompts, reference):
    full = engine.tokenizer.decode(reference[3], skip_special_tokens=True)
    stop = "perimeter"
    cut = full.find(stop, 10)
    assert cut > 0, full
    completion = engine.generate_many([(prompts[3], Sampling(max_tokens=NEW_TOKENS, stop=("never-there", stop)))])[0]
    assert completion.text == full[:cut]
    assert completion.finish_reasons == ["stop"]
    assert completion.completion_tokens[0] < NEW_TOKENS
    assert completion.token_ids[0] == reference[3][: completion.completion_tokens[0]]

    short = engine.generate_many([(prompts[3], Sampling(max_tokens=5))])[0]
    assert short.completion_tokens == [5] and short.finish_reasons == ["length"]
    assert short.token_ids[0] == reference[3][:5]


def test_many_concurrent_generate_calls(engine, prompts, reference):
    """Forty callers on one event loop, one cancelled midway: the rest complete, batched together."""
    calls_before = engine.stats.calls

    async def main():
        tasks = [
            asyncio.create_task(engine.generate(CONVERSATIONS[i % 6], Sampling(max_tokens=12 + i % 5)))
            for i in range(40)
        ]
        doomed = asyncio.create_task(engine.generate(CONVERSATIONS[1], Sampling(max_tokens=400)))
        await asyncio.sleep(0.5)
        doomed.cancel()
        results = await asyncio.gather(*tasks)
        with pytest.raises(asyncio.CancelledError):
            await doomed
        return results

    results = asyncio.run(main())
    for i, completion in enumerate(results):
        expected = reference[i % 6][: 12 + i % 5]
        assert completion.token_ids[0] == expected
    # A caller's future is settled mid-step, before the engine thread has dropped the finished sequences,
    # so wait for the thread to go idle before looking at its state.
    assert engine.wait_until_idle(timeout=300)
    assert engine.stats.calls - calls_before < 40  # one step serves many callers; the 400 tokens never ran
    assert engine.core.has_work() is False  # the cancelled request left nothing behind
    blocks = engine.core.blocks
    assert blocks.num_free == len(blocks.blocks)  # every KV block is back


def test_bad_requests_are_user_errors(engine):
    with pytest.raises(UserError, match="does not fit"):
        engine.generate_many([(list(range(10, 9000)), GREEDY)])
    with pytest.raises(UserError, match="top_p"):
        engine.generate_many([([1, 2, 3], Sampling(top_p=0.0))])
    with pytest.raises(UserError, match="unknown native-engine option"):
        NativeEngine(resolve("smollm2-135m").path, EngineOptions(extra={"max_num_seq": 4}))


@pytest.mark.parametrize("family", ["qwen2", "qwen3"])
def test_qwen_families_match_transformers(tmp_path, family):
    """Tiny random Qwen2 (q/k/v biases, untied, sharded checkpoint) and Qwen3 (q/k norms, tied) models."""
    import transformers

    config_cls = {"qwen2": transformers.Qwen2Config, "qwen3": transformers.Qwen3Config}[family]
    model_cls = {"qwen2": transformers.Qwen2ForCausalLM, "qwen3": transformers.Qwen3ForCausalLM}[family]
    config = config_cls(
        vocab_size=512, hidden_size=128, intermediate_size=256, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, head_dim=32, max_position_embeddings=256, tie_word_embeddings=family == "qwen3",
        rms_norm_eps=1e-6, eos_token_id=None, bos_token_id=None,
    )  # fmt: skip
    torch.manual_seed(0)
    hf = model_cls(config).eval()
    with torch.no_grad():  # larger weights than the default init: sharper logits, no near-ties
        for p in hf.parameters():
            p.normal_(0, 0.2) if p.dim() > 1 else p.uniform_(0.5, 1.5)
    hf.save_pretrained(tmp_path, max_shard_size="200KB")
    assert len(list(tmp_path.glob("*.safetensors"))) > 1
    prompts = [[(7 * i + 3 * j) % 500 + 1 for j in range(5 + 9 * i)] for i in range(3)]
    with NativeEngine(str(tmp_path), EngineOptions(extra={"num_kv_blocks": 64, "block_size": 4})) as native:
        completions = native.generate_many([(p, Sampling(max_tokens=12)) for p in prompts], ignore_eos=True)
    for prompt, completion in zip(prompts, completions):
        assert completion.token_ids[0] == hf_greedy(hf, prompt, 12)


def test_a_few_newcomers_wait_a_few_rounds_beside_a_full_batch():
    """Agents' calls trickle in: one newcomer beside 8 decoding sequences waits up to
    prefill_delay_rounds decode rounds, then is prefilled with whoever came meanwhile; a newcomer
    beside a small batch, or a big prompt, is prefilled at once."""
    from matheval.engines.native.block_manager import BlockManager
    from matheval.engines.native.config import EngineConfig
    from matheval.engines.native.scheduler import Scheduler
    from matheval.engines.native.sequence import Request, SeqParams, Sequence

    params = SeqParams(temperature=0.0, top_p=1.0, max_tokens=100, stop=(), ignore_eos=True)

    def seq(length=20):
        return Sequence(Request([1] * length, None), 0, list(range(1, length + 1)), params, 4096, (1, 2))

    config = EngineConfig(max_num_seqs=32, max_num_batched_tokens=4096, prefill_delay_rounds=3)
    scheduler = Scheduler(config, BlockManager(512, 16, 32, 256))
    for _ in range(8):
        scheduler.add(seq())
    batch, is_prefill, _ = scheduler.schedule()
    assert is_prefill and len(batch) == 8, "nothing runs yet: prefill at once"
    for s in batch:
        s.num_computed_tokens = s.num_tokens
    scheduler.add(seq())
    kinds = []
    for round_ in range(5):
        if round_ == 1:
            scheduler.add(seq())  # arrives while the first newcomer waits
        batch, is_prefill, _ = scheduler.schedule()
        kinds.append((is_prefill, len(batch)))
        if is_prefill:
            break
    assert kinds == [(False, 8), (False, 8), (False, 8), (True, 2)], kinds

    # a long queue in front of a nearly full batch: the two free slots wait too, then fill together
    full = Scheduler(EngineConfig(max_num_seqs=10, max_num_batched_tokens=4096, prefill_delay_rounds=2),
                     BlockManager(512, 16, 10, 256))  # fmt: skip
    for _ in range(30):
        full.add(seq())
    batch, _, _ = full.schedule()
    assert len(batch) == 10
    for s in batch[:2]:
        full.finish(s)
    full.drop_finished()
    kinds = [(lambda b: (b.is_prefill, len(b.seqs)))(full.schedule()) for _ in range(3)]
    assert kinds == [(False, 8), (False, 8), (True, 2)], kinds

    small = Scheduler(config, BlockManager(512, 16, 32, 256))
    small.add(seq())
    small.schedule()
    small.add(seq())
    assert small.schedule()[1], "beside one sequence a newcomer does not wait"
    big = Scheduler(config, BlockManager(512, 16, 32, 256))
    for _ in range(8):
        big.add(seq())
    big.schedule()
    big.add(seq(1500))
    assert big.schedule()[1], "a prompt of a quarter of the token budget or more does not wait"
