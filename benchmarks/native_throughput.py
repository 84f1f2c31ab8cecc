"""Native-engine throughput on the `throughput` workload (BENCH_ANCHORS.md), with same-run baselines.

    PYTHONPATH=. python benchmarks/native_throughput.py --out /tmp/bench            # GPU, everything
    PYTHONPATH=. python benchmarks/native_throughput.py --device cpu --tiny --num-seqs 8   # dry run

Steps (each can be switched off): versions; Triton kernels against the torch path (relative error and
achieved bandwidth); the fused element-wise kernels against the torch ops (bits and time); engine variants on the workload (random bf16 weights, EOS ignored, useful tokens
= the sum of each sequence's own output length); greedy agreement with transformers on the same
weights; transformers `generate` with one static batch, eager. Prints a table last and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from matheval.engines.base import EngineOptions, Sampling  # noqa: E402
from matheval.engines.native import NativeEngine  # noqa: E402
from matheval.engines.native.config import ModelConfig  # noqa: E402
from matheval.engines.native.model import load_weights  # noqa: E402

TINY = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 151936, "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-6, "rope_theta": 1e6, "tie_word_embeddings": True}  # fmt: skip


T0 = time.perf_counter()
SWEEP = False  # --sweep: try every tile setting of the kernels


def log(*parts):
    print(*parts, flush=True)


def workload(num_seqs: int, low: int, high: int, vocab: int, seed: int):
    """Prompts of random token ids and per-sequence output lengths, both uniform in [low, high]."""
    rng = np.random.default_rng(seed)
    in_lens = rng.integers(low, high + 1, num_seqs)
    out_lens = rng.integers(low, high + 1, num_seqs)
    prompts = [rng.integers(100, min(vocab, 150000), n).tolist() for n in in_lens]
    return prompts, out_lens.tolist()


def roofline(model_config: ModelConfig, n_params: int, in_lens, out_lens, bandwidth: float, bytes_per: int = 2):
    """BENCH_ANCHORS.md's floor: every decode step reads all weights once plus the KV cache of every running
    sequence; all sequences start together; time = bytes / bandwidth."""
    mc = model_config
    kv_per_token = mc.num_layers * 2 * mc.num_kv_heads * mc.head_dim * bytes_per
    steps = max(out_lens)
    weight_bytes = n_params * bytes_per
    kv_bytes = sum(kv_per_token * (i * o + o * (o - 1) // 2) for i, o in zip(in_lens, out_lens))
    seconds = (steps * weight_bytes + kv_bytes) / bandwidth
    return {"steps": steps, "weight_TB": steps * weight_bytes / 1e12, "kv_TB": kv_bytes / 1e12,
            "floor_seconds": seconds, "floor_tok_s": sum(out_lens) / seconds}  # fmt: skip


def kernel_check(results: dict) -> None:
    """Triton paged attention vs the torch path on random data (fresh inputs, poisoned outputs)."""
    from matheval.engines.native import triton_kernels as tk

    torch.manual_seed(1)
    dev, dt = "cuda", torch.bfloat16
    bs, kvh, heads, dim, nblocks = 16, 2, 12, 128, 30000
    kc = torch.randn(nblocks, bs, kvh, dim, device=dev, dtype=dt)
    vc = torch.randn(nblocks, bs, kvh, dim, device=dev, dtype=dt)
    ctx = torch.randint(1, 1500, (256,), device=dev, dtype=torch.int32)
    width = 94
    tables = torch.randperm(nblocks, device=dev)[: 256 * width].view(256, width).to(torch.int32)

    def reference(q, i, q_len):
        c = int(ctx[i])
        blocks = tables[i, : -(-c // bs)].long()
        k = kc[blocks].flatten(0, 1)[:c].float().repeat_interleave(heads // kvh, 1)
        v = vc[blocks].flatten(0, 1)[:c].float().repeat_interleave(heads // kvh, 1)
        s = torch.einsum("qhd,khd->hqk", q.float(), k) * dim**-0.5
        mask = torch.arange(c, device=dev)[None, :] <= torch.arange(c - q_len, c, device=dev)[:, None]
        return torch.einsum("hqk,khd->qhd", s.masked_fill(~mask, float("-inf")).softmax(-1), v)

    q = torch.randn(256, heads, dim, device=dev, dtype=dt)
    out = torch.full_like(q, float("nan"))
    tk.paged_decode(q, kc, vc, out, tables, ctx, dim**-0.5)
    ref = torch.cat([reference(q[i : i + 1], i, 1) for i in range(256)])
    results["decode_rel_err"] = ((out.float() - ref).norm() / ref.norm()).item()
    import triton.testing

    kv_bytes = int(ctx.sum()) * kvh * dim * 2 * 2
    sweep = []
    decode_grid = [(b, w, st) for b in (32, 64, 128) for w in (2, 4, 8) for st in (1, 2, 3, 4)]
    if not SWEEP:
        decode_grid = [tuple(tk.DECODE_CONFIG[k] for k in ("BLOCK_N", "num_warps", "num_stages"))]
    for block_n, warps, stages in decode_grid:
        tk.DECODE_CONFIG.update(BLOCK_N=block_n, num_warps=warps, num_stages=stages)
        try:
            ms = triton.testing.do_bench(lambda: tk.paged_decode(q, kc, vc, out, tables, ctx, dim**-0.5),
                                         warmup=5, rep=20, return_mode="median")  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - a shape the compiler refuses is just skipped
            log("decode config failed", block_n, warps, stages, repr(exc)[:200])
            continue
        sweep.append({"BLOCK_N": block_n, "num_warps": warps, "num_stages": stages, "us": round(ms * 1e3, 1),
                      "GBps": round(kv_bytes / (ms * 1e-3) / 1e9)})  # fmt: skip
    best = min(sweep, key=lambda r: r["us"])
    tk.DECODE_CONFIG.update({k: best[k] for k in ("BLOCK_N", "num_warps", "num_stages")})
    results["decode_sweep"] = sweep
    results["decode_best"] = best
    # prefill: 8 sequences, new tokens after a cached prefix of their context
    q_lens = torch.minimum(ctx[:8], torch.randint(1, 900, (8,), device=dev, dtype=torch.int32))
    cu = torch.zeros(9, device=dev, dtype=torch.int32)
    cu[1:] = q_lens.cumsum(0)
    q = torch.randn(int(cu[-1]), heads, dim, device=dev, dtype=dt)
    out = torch.full_like(q, float("nan"))
    tk.paged_prefill(q, kc, vc, out, tables[:8], ctx[:8], cu, int(q_lens.max()), dim**-0.5)
    ref = torch.cat([reference(q[cu[i] : cu[i + 1]], i, int(q_lens[i])) for i in range(8)])
    results["prefill_rel_err"] = ((out.float() - ref).norm() / ref.norm()).item()
    # prefill speed: 16 fresh prompts of 1024 tokens, against torch's SDPA (flash) on contiguous tensors
    n_seq, length = 16, 1024
    tables16 = torch.arange(n_seq * 64, device=dev, dtype=torch.int32).view(n_seq, 64)
    ctx16 = torch.full((n_seq,), length, device=dev, dtype=torch.int32)
    cu16 = torch.arange(0, n_seq + 1, device=dev, dtype=torch.int32) * length
    q = torch.randn(n_seq * length, heads, dim, device=dev, dtype=dt)
    out = torch.empty_like(q)
    flops = 4 * n_seq * heads * dim * length * length / 2
    sweep = []
    prefill_grid = [(64, 64, 4, 2), (64, 64, 4, 3), (128, 64, 4, 2), (128, 64, 8, 2), (128, 64, 8, 3), (128, 32, 4, 2),
                    (64, 32, 4, 3)]  # fmt: skip
    if not SWEEP:
        prefill_grid = [tuple(tk.PREFILL_CONFIG[k] for k in ("BLOCK_M", "BLOCK_N", "num_warps", "num_stages"))]
    for block_m, block_n, warps, stages in prefill_grid:
        tk.PREFILL_CONFIG.update(BLOCK_M=block_m, BLOCK_N=block_n, num_warps=warps, num_stages=stages)
        try:
            ms = triton.testing.do_bench(
                lambda: tk.paged_prefill(q, kc, vc, out, tables16, ctx16, cu16, length, dim**-0.5),
                warmup=5, rep=20, return_mode="median")  # fmt: skip
        except Exception as exc:  # noqa: BLE001
            log("prefill config failed", block_m, block_n, warps, stages, repr(exc)[:200])
            continue
        sweep.append({"BLOCK_M": block_m, "BLOCK_N": block_n, "num_warps": warps, "num_stages": stages,
                      "us": round(ms * 1e3, 1), "TFLOPs": round(flops / (ms * 1e-3) / 1e12, 1)})  # fmt: skip
    best = min(sweep, key=lambda r: r["us"])
    tk.PREFILL_CONFIG.update({k: best[k] for k in ("BLOCK_M", "BLOCK_N", "num_warps", "num_stages")})
    results["prefill_sweep"] = sweep
    results["prefill_best"] = best
    qs = torch.randn(n_seq, heads, length, dim, device=dev, dtype=dt)
    ks = torch.randn(n_seq, kvh, length, dim, device=dev, dtype=dt)
    sdpa = lambda: torch.nn.functional.scaled_dot_product_attention(qs, ks, ks, is_causal=True, enable_gqa=True)  # noqa: E731
    ms = triton.testing.do_bench(sdpa, warmup=5, rep=20, return_mode="median")
    results["prefill_sdpa_us"] = round(ms * 1e3, 1)
    log("kernels:", json.dumps({k: v for k, v in results.items() if not k.endswith("sweep")}))


def fused_check(results: dict, mc: ModelConfig, dev: str = "cuda", token_counts=(256, 16384)) -> None:
    """The fused element-wise kernels vs the torch reference ops, in bf16 at a decode step's and a prefill
    step's token counts: share of output elements that differ (and by how many bf16 steps), and GPU time."""
    import triton.testing

    from matheval.engines.native import triton_fused as tf
    from matheval.engines.native.attention import AttentionMetadata, KVCache, TorchAttention
    from matheval.engines.native.model import RMSNorm, Rotary

    dt = torch.bfloat16
    heads, kvh, dim = mc.num_heads, mc.num_kv_heads, mc.head_dim
    norm = RMSNorm(mc.hidden_size, mc.rms_norm_eps).to(dev, dt)
    rotary = Rotary(mc, 4096)
    rotary.fill(dev)
    reference_attention = TorchAttention(heads, kvh, dim)

    def bits_apart(a, b):
        """bf16 steps between a and b (sign-magnitude bits mapped onto one monotone integer line)."""
        ia, ib = a.view(torch.int16).int(), b.view(torch.int16).int()
        ia, ib = (torch.where(i < 0, -(i & 0x7FFF), i) for i in (ia, ib))
        return (ia - ib).abs()

    def time_us(fn):
        if dev == "cpu":  # a dry run under the interpreter: no timing
            return None
        return round(triton.testing.do_bench(fn, warmup=5, rep=30, return_mode="median") * 1e3, 1)

    torch.manual_seed(2)
    for tokens in token_counts:
        row = {}
        x, res = torch.randn(tokens, mc.hidden_size, device=dev, dtype=dt), torch.randn(tokens, mc.hidden_size, device=dev, dtype=dt)
        want, _ = norm(x, res.clone())
        got, _ = tf.add_rms_norm(x, norm.weight, norm.eps, res.clone())
        diff = bits_apart(got, want)
        row["add_rms_norm"] = {"differ": round((diff > 0).float().mean().item(), 5), "max_steps": int(diff.max()),
                               "fused_us": time_us(lambda: tf.add_rms_norm(x, norm.weight, norm.eps, res)),
                               "torch_us": time_us(lambda: norm(x, res))}  # fmt: skip
        gate_up = torch.randn(tokens, 2 * mc.intermediate_size, device=dev, dtype=dt)
        gate, up = gate_up.split(mc.intermediate_size, dim=-1)
        diff = bits_apart(tf.silu_mul(gate_up), torch.nn.functional.silu(gate) * up)
        row["silu_mul"] = {"differ": round((diff > 0).float().mean().item(), 5), "max_steps": int(diff.max()),
                           "fused_us": time_us(lambda: tf.silu_mul(gate_up)),
                           "torch_us": time_us(lambda: torch.nn.functional.silu(gate) * up)}  # fmt: skip
        blocks = -(-tokens // 16) + 1
        caches = [KVCache(1, blocks, 16, kvh, dim, dt, dev) for _ in range(2)]
        qkv = torch.randn(tokens, (heads + 2 * kvh) * dim, device=dev, dtype=dt)
        positions = torch.randint(0, 4096, (tokens,), device=dev)
        slots = torch.randperm(blocks * 16, device=dev)[:tokens]
        meta = AttentionMetadata(is_prefill=False, slot_mapping=slots, context_lens=positions, block_tables=positions)

        def split(t):
            q, k, v = t.split([heads * dim, kvh * dim, kvh * dim], dim=-1)
            return q.view(tokens, heads, dim), k.view(tokens, kvh, dim), v.view(tokens, kvh, dim)

        reference_attention.cache = caches[0]
        want_q = reference_attention.rope_and_store(0, rotary, positions, *split(qkv.clone()), meta)
        got_qkv = qkv.clone()
        q, k, v = split(got_qkv)
        tf.rope_store(q, k, v, positions, rotary.cos, rotary.sin, caches[1].k[0], caches[1].v[0], slots)
        written = [c.k[0].view(-1, kvh, dim)[slots] for c in caches]
        diff = torch.cat([bits_apart(q, want_q).flatten(), bits_apart(written[1], written[0]).flatten()])
        row["rope_store"] = {
            "differ": round((diff > 0).float().mean().item(), 5), "max_steps": int(diff.max()),
            "fused_us": time_us(lambda: tf.rope_store(q, k, v, positions, rotary.cos, rotary.sin, caches[1].k[0],
                                                      caches[1].v[0], slots)),
            "torch_us": time_us(lambda: reference_attention.rope_and_store(0, rotary, positions, *split(qkv), meta)),
        }  # fmt: skip
        results[f"tokens_{tokens}"] = row
    results["sampler_256"] = sampler_time(mc, dev, time_us)
    log("fused:", json.dumps(results))


def sampler_time(mc: ModelConfig, dev: str, time_us) -> dict:
    """GPU time of choosing 256 tokens from [256, vocab] bf16 logits: greedy, and the seeded sampling the
    agents use (temperature 0.7, top-p 0.95), torch (sort) and fused (searched edge + one noise/argmax
    kernel), and the parts: the sort's edge, the searched edge, the Gumbel noise. `edges_equal`: the
    search finds the sort's edge in every row."""
    from types import SimpleNamespace

    from matheval.engines.native.sampler import Sampler, gumbel_noise, top_p_threshold
    from matheval.engines.native.triton_sampling import gumbel_argmax, top_p_edge

    logits = torch.randn(256, mc.vocab_size, device=dev, dtype=torch.bfloat16)
    params = SimpleNamespace(temperature=0.7, top_p=0.95)
    seqs = [SimpleNamespace(greedy=False, params=params, key_a=i, key_b=7 * i, num_output_tokens=3) for i in range(256)]
    sampler, fused = Sampler(), Sampler(fused=True)
    rows = sampler.rows(seqs, dev)
    keys = torch.arange(256, device=dev)
    scaled = logits.float() * rows.inv_temperatures[:, None]

    def edges(p: float):
        top_p = torch.full((256,), p, device=dev)
        found = top_p_edge(logits, rows.index, rows.inv_temperatures, top_p) * rows.inv_temperatures
        return top_p_threshold(scaled, top_p), found

    return {"greedy_us": time_us(lambda: sampler(logits, None)), "sampled_us": time_us(lambda: sampler(logits, rows)),
            "fused_sampled_us": time_us(lambda: fused(logits, rows)),
            "fused_equal": bool(torch.equal(sampler(logits, rows), fused(logits, rows))),
            "edges_equal": {str(p): bool(torch.equal(*edges(p))) for p in (0.95, 0.5, 0.1)},
            "top_p_sort_us": time_us(lambda: top_p_threshold(scaled, rows.top_p)),
            "top_p_search_us": time_us(lambda: top_p_edge(logits, rows.index, rows.inv_temperatures, rows.top_p)),
            "gumbel_argmax_us": time_us(lambda: gumbel_argmax(logits, rows.index, rows.inv_temperatures, rows.keys)),
            "gumbel_noise_torch_us": time_us(lambda: gumbel_noise(keys, keys, keys, mc.vocab_size))}  # fmt: skip


def sampler_sweep(mc: ModelConfig, batches=(8, 74, 153, 208, 256), dev: str = "cuda") -> list:
    """The sampling kernels at the agents' decode batches (temperature 0.7, top-p 0.95), GPU time in us:
    v5's and v6's kernels (one program per row; benchmarks/sampler_old_kernels.py) against the current
    ones (each row split across programs) at several chunk lengths and warps. `same`: the current kernels
    find v6's edges and draw v6's tokens in every row (both are deterministic, but sum in another order)."""
    import triton.testing

    from matheval.engines.native import triton_sampling as ts
    from matheval.engines.native.sampler import Sampler, top_p_threshold

    sys.path.insert(0, str(HERE))
    from sampler_old_kernels import gumbel_argmax_v5, gumbel_argmax_v6, top_p_edge_v5, top_p_edge_v6

    def time_us(fn):
        if dev == "cpu":  # a dry run under the interpreter: no timing
            return None
        return round(triton.testing.do_bench(fn, warmup=5, rep=40, return_mode="median") * 1e3, 1)

    from types import SimpleNamespace

    params = SimpleNamespace(temperature=0.7, top_p=0.95)
    default = (ts.SAMPLE_CHUNK, ts.WARPS)
    settings = [(16384, 4), (16384, 8), (8192, 4), (32768, 4)]
    rows_out = []
    torch.manual_seed(3)
    for batch in batches:
        logits = (torch.randn(batch, mc.vocab_size, device=dev) * 0.8).bfloat16()
        seqs = [SimpleNamespace(greedy=False, params=params, key_a=i, key_b=7 * i, num_output_tokens=5) for i in range(batch)]
        rows = Sampler().rows(seqs, dev)
        args = (logits, rows.index, rows.inv_temperatures)
        v6_edge = top_p_edge_v6(*args, rows.top_p)
        v6_tokens = gumbel_argmax_v6(*args, rows.keys, 0, v6_edge)
        sort_edge = top_p_threshold(logits.float() * rows.inv_temperatures[:, None], rows.top_p)
        row = {"batch": batch, "v5_edge_us": time_us(lambda: top_p_edge_v5(*args, rows.top_p)),
               "v5_gumbel_us": time_us(lambda: gumbel_argmax_v5(*args, rows.keys, 0, v6_edge)),
               "v6_edge_us": time_us(lambda: top_p_edge_v6(*args, rows.top_p)),
               "v6_gumbel_us": time_us(lambda: gumbel_argmax_v6(*args, rows.keys, 0, v6_edge)),
               "v6_edges_differ_from_sort": int((v6_edge * rows.inv_temperatures != sort_edge).sum()),
               "greedy_argmax_us": time_us(lambda: logits.argmax(-1)), "current": {}}  # fmt: skip
        for chunk, warps in settings:
            ts.SAMPLE_CHUNK, ts.WARPS = chunk, warps
            try:
                edge = ts.top_p_edge(*args, rows.top_p)
                tokens = ts.gumbel_argmax(*args, rows.keys, 0, edge)
                row["current"][f"chunk{chunk}x{warps}w"] = {
                    "edge_us": time_us(lambda: ts.top_p_edge(*args, rows.top_p)),
                    "gumbel_us": time_us(lambda: ts.gumbel_argmax(*args, rows.keys, 0, edge)),
                    "edges_differ_from_v6": int((edge != v6_edge).sum()),
                    "tokens_differ_from_v6": int((tokens != v6_tokens).sum())}  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - a setting that does not compile is a result too
                row["current"][f"chunk{chunk}x{warps}w"] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        ts.SAMPLE_CHUNK, ts.WARPS = default
        sampler = Sampler(fused=True)
        row["sampler_us"] = time_us(lambda: sampler(logits, rows))
        rows_out.append(row)
        log("sampler sweep:", json.dumps(row))
    return rows_out


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

    params = SimpleNamespace(temperature=0.7, top_p=0.95)  # the agents' sampling, every row
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


def decode_split_sweep(mc: ModelConfig, shapes=((256, 1100), (160, 3000), (80, 1500), (32, 1500), (8, 4000))) -> list:
    """One layer's paged decode attention (bf16, scattered 16-token blocks) at each (batch, context), with
    the context split between 1-16 programs: microseconds and achieved K/V bandwidth, and the split the
    engine picks. Eager launches: at small sizes this times the launches, not the kernels (the captured
    decode steps of `decode_step_time` are the measure that counts)."""
    import triton.testing

    from matheval.engines.native import triton_kernels

    multiprocessors = torch.cuda.get_device_properties(0).multi_processor_count
    rows = []
    for batch, ctx in shapes:
        blocks_per_seq = -(-ctx // 16)
        num_blocks = batch * blocks_per_seq + 1
        k = torch.randn(num_blocks, 16, mc.num_kv_heads, mc.head_dim, device="cuda", dtype=torch.bfloat16)
        v = torch.randn_like(k)
        tables = torch.randperm(num_blocks - 1, device="cuda")[: batch * blocks_per_seq].view(batch, -1).int()
        context = torch.full((batch,), ctx, dtype=torch.int32, device="cuda")
        q = torch.randn(batch, mc.num_heads, mc.head_dim, device="cuda", dtype=torch.bfloat16)
        out = torch.empty_like(q)
        kv_bytes = batch * ctx * 2 * mc.num_kv_heads * mc.head_dim * 2
        row = {"batch": batch, "context": ctx, "auto": triton_kernels.decode_splits(batch, mc.num_kv_heads, multiprocessors)}
        for splits in (1, 2, 4, 8, 16):
            us = 1e3 * triton.testing.do_bench(
                lambda: triton_kernels.paged_decode(q, k, v, out, tables, context, mc.head_dim**-0.5, splits),
                warmup=5, rep=40, return_mode="median")  # fmt: skip
            row[f"s{splits}_us"] = round(us, 1)
            row[f"s{splits}_TBps"] = round(kv_bytes / (us * 1e-6) / 1e12, 2)
        rows.append(row)
    return rows


def hf_model_from_config(config_path: str, device: str, dtype):
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(config_path)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation="sdpa")
    return model.eval()


def agreement(engine: NativeEngine, hf, prompts, new_tokens: int, device: str) -> list[dict]:
    """Greedy tokens of native (all prompts batched) vs transformers (one prompt at a time), same weights."""
    load_weights(engine.core.runner.model, hf.state_dict().items())
    engine.reset_prefix_cache()  # blocks cached under the old weights must not serve these prompts
    completions = engine.generate_many([(p, Sampling(max_tokens=new_tokens)) for p in prompts])
    rows = []
    for prompt, completion in zip(prompts, completions):
        ids = torch.tensor([prompt], device=device)
        with torch.no_grad():
            out = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens, do_sample=False,
                              eos_token_id=None, pad_token_id=0)  # fmt: skip
            theirs = out[0, len(prompt) :].tolist()
            mine = completion.token_ids[0]
            first = next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b), None)
            row = {"prompt_len": len(prompt), "first_divergence": first, "tokens": len(theirs)}
            if first is not None:  # how close the two choices were in transformers' own logits there
                logits = hf(torch.tensor([prompt + theirs[:first]], device=device)).logits[0, -1].float()
                row["logit_gap_at_divergence"] = round((logits[theirs[first]] - logits[mine[first]]).item(), 4)
                row["logit_std"] = round(logits.std().item(), 4)
        rows.append(row)
    return rows


def hf_static(hf, prompts, out_lens, device: str) -> dict:
    """transformers generate, one left-padded static batch, eager, running to the longest output."""
    from transformers import GenerationConfig

    width = max(len(p) for p in prompts)
    ids = torch.zeros(len(prompts), width, dtype=torch.long, device=device)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompts):
        ids[i, width - len(p) :] = torch.tensor(p)
        mask[i, width - len(p) :] = 1
    config = GenerationConfig(max_new_tokens=max(out_lens), do_sample=False, eos_token_id=None, pad_token_id=0)
    torch.cuda.synchronize() if device == "cuda" else None
    started = time.perf_counter()
    with torch.no_grad():
        out = hf.generate(ids, attention_mask=mask, generation_config=config)
    torch.cuda.synchronize() if device == "cuda" else None
    wall = time.perf_counter() - started
    assert out.shape[1] - width == max(out_lens)
    return {"wall_s": round(wall, 2), "useful_tokens": sum(out_lens), "tok_s": round(sum(out_lens) / wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=str(HERE / "configs" / "qwen2.5-1.5b.json"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="a two-layer model (dry runs on the CPU)")
    parser.add_argument("--num-seqs", type=int, default=256)
    parser.add_argument("--low", type=int, default=100)
    parser.add_argument("--high", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", default="graphs,eager,graphs_bt32k", help="comma list of names from VARIANTS")
    parser.add_argument("--skip", default="", help="comma list: kernels,fused,agreement,hf_static")
    parser.add_argument("--bandwidth", type=float, default=3.0e12, help="bytes/s for the floor (anchors: 3 TB/s)")
    parser.add_argument("--out", default=os.environ.get("OUT", "/tmp/native_bench"))
    parser.add_argument("--sweep", action="store_true", help="sweep the kernels' tile settings")
    parser.add_argument("--profile", action="store_true", help="print the kernels of one decode step by GPU time")
    parser.add_argument("--prefill_probe", action="store_true", help="host vs GPU time of prefill launches (cProfile)")
    parser.add_argument("--split_sweep", action="store_true", help="decode attention with its context split 1-16 ways")
    parser.add_argument("--sampler_sweep", action="store_true", help="sampling kernels: v5 and v6 against the current")
    parser.add_argument("--deadline", type=float, default=1e9, help="seconds; the transformers baseline needs ~220")
    args = parser.parse_args()
    global SWEEP
    SWEEP = args.sweep
    skip = set(filter(None, args.skip.split(",")))
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    config_path = args.config
    if args.tiny:
        config_path = str(out_dir / "tiny.json")
        Path(config_path).write_text(json.dumps(TINY))
    model_config = ModelConfig.load(config_path)
    results = {"date": time.strftime("%Y-%m-%d %H:%M"), "config": Path(args.config).name, "args": vars(args)}
    env = {"python": platform.python_version(), "torch": torch.__version__}
    try:
        import transformers
        import triton

        env.update(transformers=transformers.__version__, triton=triton.__version__)
    except ImportError:
        pass
    if args.device == "cuda":
        props = torch.cuda.get_device_properties(0)
        env.update(gpu=props.name, sms=props.multi_processor_count, memory_gb=round(props.total_memory / 2**30, 1))
    results["env"] = env
    log("env:", json.dumps(env))

    if args.device == "cuda" and "kernels" not in skip:
        results["kernels"] = {}
        kernel_check(results["kernels"])
    if args.device == "cuda" and "fused" not in skip:
        results["fused"] = {}
        try:
            fused_check(results["fused"], model_config)
        except Exception:  # noqa: BLE001 - the engine numbers still matter
            import traceback

            traceback.print_exc()

    if args.device == "cuda" and args.split_sweep:
        results["decode_split_sweep"] = decode_split_sweep(model_config)
        for row in results["decode_split_sweep"]:
            log("decode split:", json.dumps(row))

    if args.device == "cuda" and args.sampler_sweep:
        results["sampler_sweep"] = sampler_sweep(model_config)

    hf = None
    if not {"agreement", "hf_static"} <= skip:  # first, so that the engines size their KV caches around it
        hf = hf_model_from_config(config_path, args.device, torch.bfloat16 if args.device == "cuda" else torch.float32)

    prompts, out_lens = workload(args.num_seqs, args.low, args.high, model_config.vocab_size, args.seed)
    in_lens = [len(p) for p in prompts]
    variants = {
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
    engine = None
    results["variants"] = {}
    for name in filter(None, args.variants.split(",")):
        if engine is not None:
            engine.close()
        try:
            engine, row = run_engine(config_path, variants[name], prompts, out_lens, args.device)
            if args.device == "cuda" and engine.core.runner.graphs:
                row["decode_step"] = [decode_step_time(engine, b, c) for b, c in ((256, 1100), (208, 1500), (160, 3000), (80, 2000), (32, 1500))]
                if args.profile:
                    row["decode_profile_256x1100"] = decode_profile(engine, 256, 1100)
                    log(row["decode_profile_256x1100"])
                if args.prefill_probe:
                    shapes = ((16, 12, 160, True, 30), (10, 550, 3000, True, 30), (4, 400, 0, False, 0), (32, 300, 0, False, 0))
                    row["prefill_launch"] = [prefill_launch(engine, *shape) for shape in shapes]
                    for probe in row["prefill_launch"]:
                        log("prefill launch:", json.dumps({k: v for k, v in probe.items() if k != "profile"}))
                        log(probe.get("profile", ""))
        except Exception:  # noqa: BLE001 - one broken variant must not cost the others
            import traceback

            traceback.print_exc()
            engine, row = None, {"error": traceback.format_exc()[-2000:], "tok_s": 0.0}
        results["variants"][name] = row
        log(f"variant {name}:", json.dumps(row))
        (out_dir / "native_throughput.json").write_text(json.dumps(results, indent=1))
    n_params = sum(p.numel() for p in engine.core.runner.model.parameters()) if engine else 0
    results["workload"] = {"num_seqs": args.num_seqs, "useful_tokens": sum(out_lens), "prompt_tokens": sum(in_lens),
                           "roofline": roofline(model_config, n_params, in_lens, out_lens, args.bandwidth),
                           "params": n_params}  # fmt: skip
    log("workload:", json.dumps(results["workload"]))

    if "agreement" not in skip and engine is not None:
        try:
            results["agreement"] = agreement(engine, hf, [p[:200] for p in prompts[:4]], 64, args.device)
            log("agreement:", json.dumps(results["agreement"]))
        except Exception:  # noqa: BLE001
            import traceback

            traceback.print_exc()
    if engine is not None:
        engine.close()
    if "hf_static" not in skip and time.perf_counter() - T0 > args.deadline - 220:
        log("hf_static skipped: not enough time left before the deadline")
    elif "hf_static" not in skip:
        results["hf_static"] = hf_static(hf, prompts, out_lens, args.device)
        log("hf_static:", json.dumps(results["hf_static"]))
    (out_dir / "native_throughput.json").write_text(json.dumps(results, indent=1))

    floor = results["workload"]["roofline"]["floor_tok_s"]
    log("\n| path | output tok/s | % of floor |")
    log("| --- | --- | --- |")
    for name, row in results["variants"].items():
        log(f"| native {name} | {row['tok_s']:,.0f} | {100 * row['tok_s'] / floor:.1f}% |")
    if "hf_static" in results:
        row = results["hf_static"]
        log(f"| transformers static 256 eager | {row['tok_s']:,.0f} | {100 * row['tok_s'] / floor:.1f}% |")
    log(f"| floor ({args.bandwidth / 1e12:.1f} TB/s) | {floor:,.0f} | 100% |")


if __name__ == "__main__":
    main()
