"""The fused element-wise kernels (add + RMSNorm, SiLU x up, RoPE + K/V store) against the torch ops they
replace: the share of output values that differ, by how many bf16 steps, and the GPU time of each."""

from __future__ import annotations

import json

import torch

from matheval.engines.native.config import ModelConfig

from . import log
from .sampling import sampler_time


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
