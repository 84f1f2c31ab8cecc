"""The native engine on the `throughput` workload (random prompt token ids, EOS ignored, useful tokens = the
sum of each sequence's own output length), one engine variant at a time, and the engine's parts timed in
place: one captured decode step (with greedy and sampled lm_head), the kernels of one eager step, and
prefill launches (host time against GPU time)."""

from __future__ import annotations

import time

import numpy as np
import torch

from matheval.bench.roofline import Ceilings, ModelShape, workload_floor
from matheval.engines.base import EngineOptions, Sampling
from matheval.engines.native import NativeEngine

# Engine options by variant name; "sampling" goes to the requests instead (default greedy).
VARIANTS = {
    "graphs": {},
    "eager": {"enforce_eager": True},
    "graphs_bt32k": {"max_num_batched_tokens": 32768},
    "k1": {"decode_steps": 1},  # one decode step per host round (the engine's first version)
    "k4": {"decode_steps": 4},
    "k16": {"decode_steps": 16},
    "unfused": {"fused_kernels": False},  # v2: torch ops between the GEMMs (about 20 kernels per layer)
    # the agents' sampling (majority vote, debate): every row draws, with a top-p edge to find
    "sampled": {"sampling": {"temperature": 0.7, "top_p": 0.95, "seed": 1}},
}


def workload(num_seqs: int, low: int, high: int, vocab: int, seed: int):
    """Prompts of random token ids and per-sequence output lengths, both uniform in [low, high]."""
    rng = np.random.default_rng(seed)
    in_lens = rng.integers(low, high + 1, num_seqs)
    out_lens = rng.integers(low, high + 1, num_seqs)
    prompts = [rng.integers(100, min(vocab, 150000), n).tolist() for n in in_lens]
    return prompts, out_lens.tolist()


def floor(config_path: str, in_lens, out_lens, bandwidth: float, matmul: float, bytes_per_value: int = 2) -> dict:
    """The workload's roofline floor (matheval/bench/roofline.py), at the given copy bandwidth and matmul rate."""
    shape = ModelShape.load(config_path)
    return {"params": shape.params,
            **workload_floor(shape, in_lens, out_lens, bytes_per_value, Ceilings(bandwidth, matmul))}


def run_engine(config_path: str, extra: dict, prompts, out_lens, device: str, warm: bool = True):
    """`extra` goes to the engine, except "sampling": the requests' Sampling fields (default greedy)."""
    extra = dict(extra)
    sampling = extra.pop("sampling", {})
    options = EngineOptions(device=device, extra={"load_format": "dummy", "ignore_eos": True, **extra})
    started = time.perf_counter()
    engine = NativeEngine(config_path, options)
    setup = time.perf_counter() - started
    if warm:  # compiles the prefill kernel's shapes, touches every path once
        engine.generate_many([(p[:64], Sampling(max_tokens=16)) for p in prompts[:8]])
    before = dict(engine.native_stats())
    started = time.perf_counter()
    completions = engine.generate_many([(p, Sampling(max_tokens=n, **sampling)) for p, n in zip(prompts, out_lens)])
    wall = time.perf_counter() - started
    after = engine.native_stats()
    useful = sum(c.completion_tokens[0] for c in completions)
    assert useful == sum(out_lens), (useful, sum(out_lens))
    delta = {k: round(after[k] - before.get(k, 0), 3) for k in after if k.startswith(("prefill", "decode", "preempt"))}
    return engine, {"setup_s": round(setup, 2), "wall_s": round(wall, 3), "useful_tokens": useful,
                    "tok_s": round(useful / wall, 1), "stats": delta, "kv_blocks": after["kv_blocks"]}  # fmt: skip


def decode_step_time(engine: NativeEngine, batch: int, context: int, keep_inputs: bool = False) -> dict:
    """GPU time of one captured decode step (graph replay) at a given batch and context, no host work:
    the gap to the measured wall time per decode step is the engine's host overhead."""
    runner = engine.core.runner
    if batch not in runner.graphs and batch in runner.graph_sizes:
        runner._capture_bucket(batch)  # graphs are captured on first use (lazy_graphs)
    if batch not in runner.graphs:
        return {}
    blocks = -(-context // runner.block_size)
    tables = torch.randperm(runner.num_blocks, device="cuda")[: batch * blocks].view(batch, blocks).to(torch.int32)
    runner.graph_tables[:batch, :blocks].copy_(tables)
    runner.graph_inputs[0, :batch] = torch.randint(100, 1000, (batch,))
    runner.graph_inputs[1, :batch] = context - 1
    runner.graph_inputs[2, :batch] = tables[:, -1].long() * runner.block_size + (context - 1) % runner.block_size
    runner.graph_inputs[3, :batch] = context
    replay, out = runner.graphs[batch]
    if keep_inputs:  # decode_profile runs the same step eagerly on these inputs
        return {}
    import triton.testing

    ms = triton.testing.do_bench(replay, warmup=5, rep=50, return_mode="median")
    head = lambda: runner.sampler(runner.model.logits(out), None)  # noqa: E731 - lm_head + argmax (greedy)
    ms_head = triton.testing.do_bench(head, warmup=5, rep=50, return_mode="median")
    from types import SimpleNamespace

    params = SimpleNamespace(temperature=0.7, top_p=0.95, top_k=0)  # the agents' sampling, every row
    rows = runner.sampler.rows([SimpleNamespace(greedy=False, params=params, key_a=i, key_b=i, num_output_tokens=9)
                                for i in range(batch)], "cuda")  # fmt: skip
    sampled = lambda: runner.sampler(runner.model.logits(out), rows)  # noqa: E731
    ms_sampled = triton.testing.do_bench(sampled, warmup=5, rep=50, return_mode="median")
    mc = engine.core.model_config
    n_bytes = sum(p.numel() for p in runner.model.parameters()) * 2 + batch * context * mc.num_layers * 2 * mc.num_kv_heads * mc.head_dim * 2
    runner.graph_inputs[2].fill_(runner.cache.scratch_block * runner.block_size)
    runner.graph_inputs[3].fill_(1)
    return {"batch": batch, "context": context, "graph_ms": round(ms, 3), "lm_head_argmax_ms": round(ms_head, 3),
            "lm_head_sampled_ms": round(ms_sampled, 3),
            "GBps": round(n_bytes / ((ms + ms_head) * 1e-3) / 1e9)}  # fmt: skip


def decode_profile(engine: NativeEngine, batch: int, context: int, rows: int = 25) -> str:
    """The kernels of one eager decode step (the graph runs the same ones), by GPU time: where the
    step's milliseconds go."""
    from torch.profiler import ProfilerActivity, profile

    from matheval.engines.native.attention import AttentionMetadata

    runner = engine.core.runner
    decode_step_time(engine, batch, context, keep_inputs=True)
    inputs = runner.graph_inputs[:, :batch]
    meta = AttentionMetadata(is_prefill=False, slot_mapping=inputs[2], context_lens=inputs[3],
                             block_tables=runner.graph_tables[:batch])  # fmt: skip
    with torch.inference_mode():
        step = lambda: runner.sampler(runner.model.logits(runner.model(inputs[0], inputs[1], meta)), None)  # noqa: E731
        step()
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(3):
                step()
            torch.cuda.synchronize()
    runner.graph_inputs[2].fill_(runner.cache.scratch_block * runner.block_size)
    runner.graph_inputs[3].fill_(1)
    events = prof.key_averages()
    for key in ("self_device_time_total", "self_cuda_time_total", "device_time_total", "cuda_time_total"):
        try:
            return events.table(sort_by=key, row_limit=rows, max_name_column_width=60)
        except (AttributeError, KeyError, ValueError):
            continue
    return events.table(row_limit=rows)


def prefill_launch(engine: NativeEngine, num_seqs: int, new_tokens: int, cached: int, sampled: bool,
                   profile_rows: int = 0) -> dict:
    """Host time to launch one prefill step (until the call returns) against its GPU time, for `num_seqs`
    fresh sequences of `new_tokens` tokens after a `cached`-token shared prefix (agents' prefills: many
    short tails after cached prompts, or a few long prompts). With `profile_rows`, the launch's Python
    functions by own time (cProfile): where the host time goes."""
    import cProfile
    import io
    import pstats

    from matheval.engines.native.sequence import Request, SeqParams, Sequence

    core, runner = engine.core, engine.core.runner
    sync = torch.cuda.synchronize if runner.on_gpu else (lambda: None)
    params = SeqParams(temperature=0.7 if sampled else 0.0, top_p=0.95 if sampled else 1.0, max_tokens=16, stop=(),
                       ignore_eos=True)  # fmt: skip
    rng = np.random.default_rng(num_seqs * 7919 + new_tokens)
    prefix = rng.integers(100, 20000, cached).tolist()

    def batch():
        seqs = []
        for i in range(num_seqs):
            ids = prefix + rng.integers(100, 20000, new_tokens).tolist()
            seq = Sequence(Request(ids, None), 0, ids, params, len(ids) + 16, (i, i + 1))
            assert core.blocks.try_allocate(seq, 1 << 30) is not None
            seqs.append(seq)
        return seqs

    def free(seqs):
        for seq in seqs:
            core.blocks.free_seq(seq)

    if cached:  # the shared prefix is computed once and stays in the prefix cache
        first = batch()[:1]
        runner.launch_prefill(first).result()
        free(first)
    host, total = [], []
    for _ in range(4):
        seqs = batch()
        sync()
        t0 = time.perf_counter()
        pending = runner.launch_prefill(seqs)
        t1 = time.perf_counter()
        pending.result()
        host.append(t1 - t0)
        total.append(time.perf_counter() - t0)
        free(seqs)
    row = {"num_seqs": num_seqs, "new_tokens": new_tokens, "cached": cached, "sampled": sampled,
           "launch_ms": round(1e3 * float(np.median(host[1:])), 2), "step_ms": round(1e3 * float(np.median(total[1:])), 2)}
    if profile_rows:
        seqs = batch()
        sync()
        profiler = cProfile.Profile()
        profiler.enable()
        runner.launch_prefill(seqs)
        profiler.disable()
        sync()
        free(seqs)
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(profile_rows)
        row["profile"] = text.getvalue()[-6000:]
    return row
