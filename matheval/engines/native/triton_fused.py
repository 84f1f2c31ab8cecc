"""Fused element-wise kernels in Triton: what a decoder layer does between its matrix products.

Unfused, a layer runs ~20 small kernels besides its GEMMs and attention (fp32 RMSNorm in five passes,
rotate-half RoPE through `cat` and gathers, SiLU, the product with `up`, residual adds, two K/V index
copies). In a captured decode step each costs a few microseconds whatever the batch: 2.7 of 7.5 ms per
step on an H100 (benchmarks/RESULTS.md). Three kernels do the same work in four launches per layer:

- `add_rms_norm`: residual add and RMSNorm, one row per program;
- `rope_store`: RoPE on q (in place) and k, and the K/V rows written to the paged cache, one token per program;
- `silu_mul`: SiLU(gate) * up;

and, once per step for sampled rows, `top_p_edge` (the top-p nucleus edge, searched instead of sorted)
and `gumbel_argmax` (the sampler's noise and argmax); both read the bf16 logits in place.

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

# Tiles of the two sampling kernels, one program per sampled row. Both keep per-lane partial results in
# registers and reduce them once per pass over the row. 16 warps were the fastest of six tiles at 74-256
# rows on an H200 (`benchmarks/native_throughput.py --sampler_sweep`; benchmarks/RESULTS.md, native v6).
TOP_P_BLOCK, TOP_P_WARPS = 2048, 16
GUMBEL_BLOCK, GUMBEL_WARPS = 4096, 16


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


@triton.jit
def _mix32(x):
    """sampler.mix32 on uint32 lanes: the multiplications wrap at 32 bits by themselves (the torch code
    masks int64 products to get the same bits)."""
    x = x ^ (x >> 16)
    x = x * tl.full([], 0x7FEB352D, tl.uint32)
    x = x ^ (x >> 15)
    x = x * tl.full([], 0x846CA68B, tl.uint32)
    return x ^ (x >> 16)


@triton.jit
def _u32(x):
    return (x & 0xFFFFFFFF).to(tl.uint32)


@triton.jit
def _gumbel_argmax_kernel(
    LOGITS, ROWS, INV_T, KEYS, EDGE, OUT, stride_row, V, offset, HAS_EDGE: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    i = tl.program_id(0).to(tl.int64)
    row = LOGITS + tl.load(ROWS + i) * stride_row
    inv_t = tl.load(INV_T + i)
    key_a, key_b, step = tl.load(KEYS + 3 * i), tl.load(KEYS + 3 * i + 1), tl.load(KEYS + 3 * i + 2) + offset
    row_a = _mix32(_u32(key_a) ^ _mix32(_u32(step)))
    row_b = _mix32(_u32(key_b) ^ _mix32(_u32(step + 0x632BE5AB)))
    if HAS_EDGE:
        edge = tl.load(EDGE + i)
    else:
        edge = float("-inf")
    # each lane keeps the first maximum of its own tokens (visited in increasing order); the lanes are
    # reduced once at the end: a block-wide reduction per iteration cost more than the hashing
    best = tl.full([BLOCK], float("-inf"), tl.float32)
    best_index = tl.zeros([BLOCK], tl.int32)
    for start in range(0, V, BLOCK):
        tokens = start + tl.arange(0, BLOCK)
        valid = tokens < V
        x = tl.load(row + tokens, mask=valid, other=float("-inf")).to(tl.float32)
        bits = _mix32(_mix32(tokens.to(tl.uint32) ^ row_a) ^ row_b)
        uniform = ((bits >> 9).to(tl.float32) + 0.5) / 8388608.0
        score = tl.where(valid & (x >= edge), x * inv_t - tl.log(-tl.log(uniform)), float("-inf"))
        better = score > best  # strictly greater: the first maximum wins, as in torch.argmax
        best = tl.where(better, score, best)
        best_index = tl.where(better, tokens, best_index)
    top = tl.max(best, 0)
    tl.store(OUT + i, tl.min(tl.where(best == top, best_index, V), 0).to(tl.int64))


def gumbel_argmax(logits, rows, inv_temperature, keys, offset: int = 0, edge=None) -> torch.Tensor:
    """For each sampled row r = rows[i]: argmax(logits[r] * inv_temperature[i] + sampler.gumbel_noise(keys[i]))
    over the tokens at or above edge[i] (the top-p nucleus; None: all), in one pass over the logits as they
    are (no fp32 copy, no [rows, vocab] int64 temporaries). keys: [k, 3] int64 (key_a, key_b, output
    position at the round's first step); `offset` is added to the position."""
    out = torch.empty(rows.shape[0], dtype=torch.int64, device=logits.device)
    _gumbel_argmax_kernel[(rows.shape[0],)](
        logits, rows, inv_temperature, keys.contiguous(), out if edge is None else edge, out, logits.stride(0),
        logits.shape[1], offset, HAS_EDGE=edge is not None, BLOCK=GUMBEL_BLOCK, num_warps=GUMBEL_WARPS,
    )  # fmt: skip
    return out


@triton.jit
def _order_key16(x):
    """A 16-bit float's bits -> int32 in [0, 65536) in the same order (negative values' bits flipped)."""
    bits = x.to(tl.int16, bitcast=True).to(tl.int32)
    return tl.where(bits >= 0, bits + 32768, -1 - bits)


@triton.jit
def _top_p_edge_kernel(LOGITS, ROWS, INV_T, TOP_P, OUT, stride_row, V, BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64)
    row = LOGITS + tl.load(ROWS + i) * stride_row
    inv_t = tl.load(INV_T + i)
    # pass 1, online softmax of the scaled row: its max and sum of exp(s - max)
    running_max = tl.full([BLOCK], float("-inf"), tl.float32)
    running_sum = tl.zeros([BLOCK], tl.float32)
    for start in range(0, V, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        s = tl.load(row + cols, mask=cols < V, other=float("-inf")).to(tl.float32) * inv_t
        new_max = tl.maximum(running_max, s)
        safe = tl.where(new_max == float("-inf"), 0.0, new_max)
        running_sum = running_sum * tl.exp(running_max - safe) + tl.exp(s - safe)
        running_max = new_max
    top = tl.max(running_max, 0)
    target = tl.load(TOP_P + i) * tl.sum(running_sum * tl.exp(running_max - top), 0)
    # passes 2-5: the smallest 16-bit order key K whose mass strictly above it is below top_p * sum, 4 bits
    # a pass: one candidate per sixteenth of the range still open (the last sixteenth always holds)
    lanes = tl.arange(0, 16)
    base = tl.full([], 0, tl.int32)
    for level in tl.static_range(4):
        shift = 12 - 4 * level
        candidates = base + (lanes << shift) + ((1 << shift) - 1)
        above = tl.zeros([16, BLOCK], tl.float32)  # summed over the row once, after the loop
        for start in range(0, V, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            x = tl.load(row + cols, mask=cols < V, other=float("-inf"))
            e = tl.exp(x.to(tl.float32) * inv_t - top)
            hit = _order_key16(x)[None, :] > candidates[:, None]
            above += tl.where(hit, e[None, :], 0.0)
        holds = (tl.sum(above, 1) < target) | (lanes == 15)
        base += tl.min(tl.where(holds, lanes, 16), 0) << shift
    bits = tl.where(base >= 32768, base - 32768, -1 - base).to(tl.int16)
    edge = bits.to(LOGITS.dtype.element_ty, bitcast=True).to(tl.float32)
    tl.store(OUT + i, tl.where(tl.load(TOP_P + i) >= 1.0, float("-inf"), edge))


def top_p_edge(logits: torch.Tensor, rows, inv_temperature, top_p) -> torch.Tensor:
    """sampler.top_p_threshold without sorting, for 16-bit logits read in place: the edge (as a logit
    value) is the smallest value of the row whose scaled mass strictly above it is below top_p (the sort's
    definition), found by a 16-way search over the 16-bit order of the values: five passes over the row
    instead of a [rows, vocab] fp32 sort."""
    assert logits.element_size() == 2, "top_p_edge searches 16-bit values (bf16/fp16 logits)"
    out = torch.empty(rows.shape[0], dtype=torch.float32, device=logits.device)
    _top_p_edge_kernel[(rows.shape[0],)](logits, rows, inv_temperature, top_p, out, logits.stride(0),
                                        logits.shape[1], BLOCK=TOP_P_BLOCK, num_warps=TOP_P_WARPS)  # fmt: skip
    return out
