"""Long sequences in a KV cache that cannot hold them all: preempted, recomputed and resumed, they give the
tokens they give with room to spare (real SmolLM2, fp32, CPU), and the scheduler's rules for a short cache
(admission reserve, full-length rounds, last-arrived first out) hold step by step."""

from __future__ import annotations

import pytest
import torch

from matheval.engines.base import EngineOptions, Sampling
from matheval.engines.native import NativeEngine
from matheval.engines.native.block_manager import BlockManager
from matheval.engines.native.config import EngineConfig
from matheval.engines.native.scheduler import Scheduler
from matheval.engines.native.sequence import Request, SeqParams, Sequence, Status

torch.set_num_threads(2)

QUESTIONS = ["Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
             "How many clips did Natalia sell altogether?",
             "A rectangle has length 8 and width 3. What is its area and perimeter?",
             "Weng earns $12 an hour for babysitting. Yesterday she did 50 minutes. How much did she earn?"]


def requests():
    """Sampled as the reasoning presets sample; one request draws three samples of one prompt."""
    sampled = dict(temperature=0.6, top_p=0.95)
    return [([{"role": "user", "content": QUESTIONS[0]}], Sampling(max_tokens=100, n=3, seed=11, **sampled)),
            ([{"role": "user", "content": QUESTIONS[1]}], Sampling(max_tokens=120, seed=12, **sampled)),
            ([{"role": "user", "content": QUESTIONS[2]}], Sampling(max_tokens=80, seed=13, **sampled))]


def run(model_path, blocks: int, **extra):
    options = EngineOptions(extra={"num_kv_blocks": blocks, "decode_steps": 4, "ignore_eos": True, **extra})
    with NativeEngine(model_path, options) as engine:
        completions = engine.generate_many(requests())
        assert engine.wait_until_idle(timeout=60)
        stats = engine.native_stats()
        free = engine.core.blocks.num_free
    return [c.token_ids for c in completions], stats, free


@pytest.fixture(scope="module")
def roomy(smollm2_path):
    tokens, stats, _ = run(smollm2_path, 512)
    assert stats["preemptions"] == 0
    return tokens


def test_preempted_long_sequences_resume_to_the_same_tokens(smollm2_path, roomy):
    # 12 blocks of 16 tokens hold one sequence (prompt ~40-60 + up to 120 tokens), not five
    tight, stats, free = run(smollm2_path, 12)
    assert stats["preemptions"] >= 3 and stats["preempted_tokens"] > 100, stats
    assert stats["kv_blocks"] == 12 and free == 12  # every block came back
    assert [len(t) for c in tight for t in c] == [100, 100, 100, 120, 80]
    assert tight == roomy


def test_lock_step_preemption_gives_the_same_tokens(smollm2_path, roomy):
    tight, stats, _ = run(smollm2_path, 12, async_scheduling=False, decode_steps=1)
    assert stats["preemptions"] >= 3 and stats["preemption_waits"] == 0  # nothing in flight to wait for
    assert tight == roomy


# -- the scheduler's rules, with the token bookkeeping the engine does after each step ---------------------------
PARAMS = SeqParams(temperature=0.0, top_p=1.0, max_tokens=1000, stop=(), ignore_eos=True)


def make_scheduler(num_blocks: int, steps: int = 4, max_seqs: int = 8):
    config = EngineConfig(max_num_seqs=max_seqs, max_num_batched_tokens=4096, prefill_delay_rounds=0,
                          decode_steps=steps)
    blocks = BlockManager(num_blocks, 16, max_seqs, 64)
    return Scheduler(config, blocks, 1024)


def add(scheduler, prompt_len: int = 20) -> Sequence:
    start = 1000 * (len(scheduler.waiting) + len(scheduler.running) + 1)  # prompts share no block
    tokens = list(range(start, start + prompt_len))
    seq = Sequence(Request(tokens, None), 0, tokens, PARAMS, 1024, (1, 2))
    scheduler.add(seq)
    return seq


def run_round(plan) -> None:
    """What the engine does with a step's tokens: they are computed and appended."""
    for seq in plan.seqs:
        seq.num_computed_tokens = seq.num_tokens + plan.steps - 1
        seq.token_ids.extend([7] * plan.steps)


def test_rounds_keep_their_length_and_the_last_arrival_gives_way():
    scheduler = make_scheduler(num_blocks=12)
    first, second, third = add(scheduler), add(scheduler), add(scheduler)
    plan = scheduler.schedule()
    assert plan.is_prefill and plan.seqs == [first, second, third]
    run_round(plan)
    preempted = []
    for _ in range(30):
        plan = scheduler.schedule(can_preempt=True)
        if plan.is_prefill:  # the resumed sequence comes back once there is room
            run_round(plan)
            continue
        assert plan.steps == 4  # never cut to one step for lack of blocks
        assert scheduler.blocks.num_free >= 0
        run_round(plan)
        preempted = [s for s in (first, second, third) if s.status is Status.WAITING]
        if preempted:
            break
    assert preempted == [third], "the sequence that arrived last gives way"
    assert scheduler.waiting[0] is third and third.num_computed_tokens == 0


def test_a_step_in_flight_delays_the_preemption_rather_than_shortening_the_round():
    scheduler = make_scheduler(num_blocks=8)
    a, b = add(scheduler, 48), add(scheduler, 48)  # 3 blocks each, 2 left
    run_round(scheduler.schedule())
    for _ in range(10):  # rounds of 4 steps, until the next round needs a block neither has
        plan = scheduler.schedule(can_preempt=False)
        if plan is None:
            break
        assert plan.seqs == [a, b] and plan.steps == 4
        run_round(plan)
    assert plan is None and scheduler.blocks.num_free == 0
    assert scheduler.preemption_waits == 1 and b.status is Status.RUNNING
    plan = scheduler.schedule(can_preempt=True)  # once the step in flight is read back
    assert plan.seqs == [a] and plan.steps == 4 and b.status is Status.WAITING


def test_admission_keeps_room_for_the_running_sequences_to_grow():
    scheduler = make_scheduler(num_blocks=20, steps=16)  # one block per sequence per round, two rounds kept
    first = add(scheduler, 60)  # 4 blocks
    run_round(scheduler.schedule())
    big = add(scheduler, 240)  # 15 blocks: 16 are free, but 2 are kept for the first one's growth
    plan = scheduler.schedule()
    assert not plan.is_prefill and plan.seqs == [first] and big.status is Status.WAITING
    scheduler.finish(first)
    scheduler.drop_finished()
    plan = scheduler.schedule()  # nothing else holds blocks: nothing to keep room for
    assert plan.is_prefill and plan.seqs == [big]


@pytest.mark.parametrize("steps", [1, 4])
def test_a_round_never_writes_past_its_blocks(steps):
    """Blocks reserved for a round cover every position it writes, at any round length."""
    scheduler = make_scheduler(num_blocks=40, steps=steps)
    seqs = [add(scheduler, 16 * k + 3) for k in range(1, 4)]
    run_round(scheduler.schedule())
    for _ in range(10):
        plan = scheduler.schedule()
        for seq in plan.seqs:
            last = seq.num_tokens + plan.steps - 2
            assert len(seq.block_table) * 16 > last
        run_round(plan)
    assert all(s.status is Status.RUNNING for s in seqs)
