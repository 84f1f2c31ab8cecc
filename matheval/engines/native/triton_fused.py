"""Fused element-wise kernels in Triton: what a decoder layer does between its matrix products.

Unfused, a layer runs ~20 small kernels besides its GEMMs and attention (fp32 RMSNorm in five passes,
rotate-half RoPE through `cat` and gathers, SiLU, the product with `up`, residual adds, two K/V index
copies). In a captured decode step each costs a few microseconds whatever the batch: 2.7 of 7.5 ms per
step on an H100 (benchmarks/RESULTS.md). Three kernels do the same work in four launches per layer:

- `add_rms_norm`: residual add and RMSNorm, one row per program;
- `rope_store`: RoPE on q (in place) and k, and the K/V rows written to the paged cache, one token per program;
- `silu_mul`: SiLU(gate) * up.

(The sampler's kernels are in `triton_sampling`.)

Each rounds to the activation dtype exactly where transformers' step-by-step torch code does (e.g. RoPE is
round(round(q*cos) + round(-q2*sin))), so bf16 results differ from the reference path only by the order of
a sum (they launch without FMA contraction, see EXACT). The Triton interpreter runs them on the CPU for
the tests (tests/test_triton_kernels.py).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

# No multiply-add contraction: the compiler would otherwise turn round(a*b) + round(c*d) into one FMA and
# skip a rounding that torch's separate kernels take (RoPE on an H100 differed in ~18% of elements).
EXACT = {"enable_fp_fusion": False}


@triton.jit
def _add_rms_norm_kernel(
    X, R, W, OUT, stride_x, stride_r, stride_o, N, eps,
    HAS_RESIDUAL: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < N
    x = tl.load(X + row * stride_x + cols, mask=mask, other=0.0).to(tl.float32)
    if HAS_RESIDUAL:
        r = tl.load(R + row * stride_r + cols, mask=mask, other=0.0).to(tl.float32)
        total = (x + r).to(R.dtype.element_ty)
        tl.store(R + row * stride_r + cols, total, mask=mask)  # the new residual, in place
        x = total.to(tl.float32)
    inv_rms = 1.0 / tl.sqrt(tl.sum(x * x, axis=0) / N + eps)
    normed = (x * inv_rms).to(OUT.dtype.element_ty).to(tl.float32)
    w = tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
    tl.store(OUT + row * stride_o + cols, (w * normed).to(OUT.dtype.element_ty), mask=mask)


def add_rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float, residual: torch.Tensor | None = None):
    """(RMSNorm(x + residual) * weight, x + residual); the sum is written into `residual` in place.
    Without a residual: (RMSNorm(x) * weight, x)."""
    n = x.shape[-1]
    rows = x.reshape(-1, n)
    out = torch.empty_like(rows)
    res = rows if residual is None else residual.view(-1, n)
    block = triton.next_power_of_2(n)
    _add_rms_norm_kernel[(rows.shape[0],)](
        rows, res, weight, out, rows.stride(0), res.stride(0), out.stride(0), n, eps,
        HAS_RESIDUAL=residual is not None, BLOCK=block, num_warps=min(16, max(1, block // 256)), **EXACT,
    )  # fmt: skip
    return out.view(x.shape), (x if residual is None else residual)


@triton.jit
def _silu_mul_kernel(X, OUT, stride_x, stride_o, N, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < N
    gate = tl.load(X + row * stride_x + cols, mask=mask, other=0.0).to(tl.float32)
    up = tl.load(X + row * stride_x + N + cols, mask=mask, other=0.0).to(tl.float32)
    silu = (gate / (1.0 + tl.exp(-gate))).to(OUT.dtype.element_ty).to(tl.float32)
    tl.store(OUT + row * stride_o + cols, (silu * up).to(OUT.dtype.element_ty), mask=mask)


def silu_mul(gate_up: torch.Tensor) -> torch.Tensor:
    """SiLU(gate) * up for a [tokens, 2 * intermediate] matrix holding gate then up."""
    tokens, width = gate_up.shape
    n = width // 2
    out = torch.empty((tokens, n), dtype=gate_up.dtype, device=gate_up.device)
    block = 1024
    _silu_mul_kernel[(tokens, triton.cdiv(n, block))](gate_up, out, gate_up.stride(0), out.stride(0), n, BLOCK=block, num_warps=4,
                                                       **EXACT)  # fmt: skip
    return out


@triton.jit
def _rotate(ptrs_first, mask, c, s, HALF: tl.constexpr):
    """Rotate-half RoPE of rows whose first halves are at `ptrs_first`, rounded as transformers rounds."""
    x1 = tl.load(ptrs_first, mask=mask, other=0.0)
    x2 = tl.load(ptrs_first + HALF, mask=mask, other=0.0)
    dtype = x1.dtype
    x1, x2 = x1.to(tl.float32), x2.to(tl.float32)
    first = (x1 * c).to(dtype).to(tl.float32) - (x2 * s).to(dtype).to(tl.float32)
    second = (x2 * c).to(dtype).to(tl.float32) + (x1 * s).to(dtype).to(tl.float32)
    return first.to(dtype), second.to(dtype)


@triton.jit
def _rope_store_kernel(
    Q, K, V, POS, COS, SIN, KC, VC, SLOT,
    stride_qt, stride_kt, stride_vt, stride_cos, stride_slot,
    NUM_HEADS: tl.constexpr, NUM_KV_HEADS: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_KV: tl.constexpr,
    HEAD_DIM: tl.constexpr, HALF: tl.constexpr,
):  # fmt: skip
    token = tl.program_id(0).to(tl.int64)
    pos = tl.load(POS + token)
    slot = tl.load(SLOT + token).to(tl.int64)
    j = tl.arange(0, HALF)
    # cos/sin are fp32 tables; transformers casts them to the activation dtype before multiplying.
    dtype = Q.dtype.element_ty
    c = tl.load(COS + pos * stride_cos + j).to(dtype).to(tl.float32)[None, :]
    s = tl.load(SIN + pos * stride_cos + j).to(dtype).to(tl.float32)[None, :]

    h = tl.arange(0, BLOCK_H)[:, None]
    q_mask = h < NUM_HEADS
    q_ptrs = Q + token * stride_qt + h * HEAD_DIM + j[None, :]
    q1, q2 = _rotate(q_ptrs, q_mask, c, s, HALF)
    tl.store(q_ptrs, q1, mask=q_mask)
    tl.store(q_ptrs + HALF, q2, mask=q_mask)

    kh = tl.arange(0, BLOCK_KV)[:, None]
    kv_mask = kh < NUM_KV_HEADS
    k1, k2 = _rotate(K + token * stride_kt + kh * HEAD_DIM + j[None, :], kv_mask, c, s, HALF)
    cache_ptrs = slot * stride_slot + kh * HEAD_DIM + j[None, :]
    tl.store(KC + cache_ptrs, k1, mask=kv_mask)
    tl.store(KC + cache_ptrs + HALF, k2, mask=kv_mask)
    v_ptrs = V + token * stride_vt + kh * HEAD_DIM + j[None, :]
    tl.store(VC + cache_ptrs, tl.load(v_ptrs, mask=kv_mask), mask=kv_mask)
    tl.store(VC + cache_ptrs + HALF, tl.load(v_ptrs + HALF, mask=kv_mask), mask=kv_mask)


def rope_store(q, k, v, positions, cos, sin, k_cache, v_cache, slot_mapping) -> None:
    """Rotate q in place; write rotated k and v to cache slot `slot_mapping[t]` of each token t.
    q/k/v: [tokens, heads, head_dim] with contiguous heads (views into the fused qkv output are fine);
    caches: [blocks, block_size, kv_heads, head_dim]; cos/sin: [positions, head_dim] fp32."""
    tokens, heads, dim = q.shape
    kv_heads = k.shape[1]
    for t in (q, k, v):
        assert t.stride(2) == 1 and t.stride(1) == dim, "rope_store needs contiguous heads"
    assert dim % 2 == 0 and (dim // 2) & (dim // 2 - 1) == 0, "rope_store needs a power-of-two half head"
    _rope_store_kernel[(tokens,)](
        q, k, v, positions, cos, sin, k_cache, v_cache, slot_mapping,
        q.stride(0), k.stride(0), v.stride(0), cos.stride(0), kv_heads * dim,
        NUM_HEADS=heads, NUM_KV_HEADS=kv_heads, BLOCK_H=triton.next_power_of_2(heads),
        BLOCK_KV=triton.next_power_of_2(kv_heads), HEAD_DIM=dim, HALF=dim // 2, num_warps=4, **EXACT,
    )  # fmt: skip
