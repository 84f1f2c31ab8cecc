"""The Triton paged-attention kernels alone: against the torch path on random data (relative error), their
time and achieved bandwidth (optionally over a grid of tile settings), and decode attention with each
sequence's context split between 1-16 programs."""

from __future__ import annotations

import json

import torch

from matheval.engines.native.config import ModelConfig

from . import log


def kernel_check(results: dict, sweep_tiles: bool = False) -> None:
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
    if not sweep_tiles:
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
    if not sweep_tiles:
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
