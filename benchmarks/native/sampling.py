"""Choosing tokens on the GPU: greedy against sampled (temperature 0.7, top-p 0.95, the agents' setting),
the sort-free kernels against a full sort, and the kernels at the agents' decode batches over a few chunk
lengths and warps. Each timing comes with a check that the tokens and edges are the same."""

from __future__ import annotations

import json

import torch

from matheval.engines.native.config import ModelConfig

from . import log


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
    """The sampling kernels at the agents' decode batches (temperature 0.7, top-p 0.95), GPU time in us, at
    several chunk lengths and warps, and the whole sampler at the module's own setting. Each setting must find
    the default setting's edges and draw its tokens in every row (`*_differ_from_default`: the chunking is
    fixed by the vocabulary, so only the order of fp32 sums can differ); `edges_differ_from_sort` compares the
    default edges with a full sort's (0-1 rows of 256 differ: a sum of 152k terms in another order)."""
    import triton.testing

    from matheval.engines.native import triton_sampling as ts
    from matheval.engines.native.sampler import Sampler, top_p_threshold

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
        base_edge = ts.top_p_edge(*args, rows.top_p)
        base_tokens = ts.gumbel_argmax(*args, rows.keys, 0, base_edge)
        sort_edge = top_p_threshold(logits.float() * rows.inv_temperatures[:, None], rows.top_p)
        row = {"batch": batch, "default": f"chunk{default[0]}x{default[1]}w",
               "edges_differ_from_sort": int((base_edge * rows.inv_temperatures != sort_edge).sum()),
               "greedy_argmax_us": time_us(lambda: logits.argmax(-1)), "current": {}}  # fmt: skip
        for chunk, warps in settings:
            ts.SAMPLE_CHUNK, ts.WARPS = chunk, warps
            try:
                edge = ts.top_p_edge(*args, rows.top_p)
                tokens = ts.gumbel_argmax(*args, rows.keys, 0, edge)
                row["current"][f"chunk{chunk}x{warps}w"] = {
                    "edge_us": time_us(lambda: ts.top_p_edge(*args, rows.top_p)),
                    "gumbel_us": time_us(lambda: ts.gumbel_argmax(*args, rows.keys, 0, edge)),
                    "edges_differ_from_default": int((edge != base_edge).sum()),
                    "tokens_differ_from_default": int((tokens != base_tokens).sum())}  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - a setting that does not compile is a result too
                row["current"][f"chunk{chunk}x{warps}w"] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        ts.SAMPLE_CHUNK, ts.WARPS = default
        sampler = Sampler(fused=True)
        row["sampler_us"] = time_us(lambda: sampler(logits, rows))
        rows_out.append(row)
        log("sampler sweep:", json.dumps(row))
    return rows_out
