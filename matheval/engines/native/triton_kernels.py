"""Paged attention kernels in Triton (GPU; the Triton interpreter runs them on the CPU for tests).

Both kernels find a token's K/V row through the sequence's block table, one lookup per token, so any
block size works, and keep a running (flash-attention style) softmax in fp32.

- decode: one program per (sequence, KV head) computes all the query heads that share the KV head
  (grouped-query attention), so every cached K/V byte is read once per step; the query group is padded
  to 16 rows for the matrix instructions. When the batch is small the context is also split between
  several programs (flash-decoding), each writing a partial softmax that a second kernel merges: a
  few dozen sequences would otherwise leave most of the GPU's multiprocessors idle, each of the busy
  ones streaming a long context alone.
- prefill: one program per (64 query tokens, sequence, head); queries may start after a cached prefix,
  and the causal mask is aligned to the end of the context.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

LOG2E = 1.4426950408889634
# Tile shapes and launch settings (tuned on an H100; benchmarks/native_throughput.py sweeps them).
DECODE_CONFIG = {"BLOCK_N": 64, "num_warps": 2, "num_stages": 3}
DECODE_MIN_SPLIT_TILES = 4  # a split of the context has at least this many BLOCK_N tiles (256 tokens)
PREFILL_CONFIG = {"BLOCK_M": 64, "BLOCK_N": 32, "num_warps": 4, "num_stages": 3}


@triton.jit
def _decode_attend(
    Q, K, V, BT, seq, kv_head, lo, hi, qk_scale, stride_qt, stride_qh, stride_bt, stride_kb, stride_ks, stride_kh,
    GROUP: tl.constexpr, BLOCK_G: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr,
    BLOCK_SIZE: tl.constexpr, BLOCK_N: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    """The query heads of one KV head over cached tokens lo..hi-1 of one sequence: (running max, running
    sum, unnormalized output) of the online softmax, plus the head rows and their mask."""
    g = tl.arange(0, BLOCK_G)
    d = tl.arange(0, BLOCK_D)
    heads = kv_head * GROUP + g
    q_mask = (g < GROUP)[:, None] & (d < HEAD_DIM)[None, :]
    q = tl.load(Q + seq * stride_qt + heads[:, None] * stride_qh + d[None, :], mask=q_mask, other=0.0)
    m_i = tl.full([BLOCK_G], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_G], tl.float32)
    acc = tl.zeros([BLOCK_G, BLOCK_D], tl.float32)
    for start in range(lo, hi, BLOCK_N):
        n = start + tl.arange(0, BLOCK_N)
        n_mask = n < hi
        block = tl.load(BT + seq * stride_bt + n // BLOCK_SIZE, mask=n_mask, other=0)
        row = block.to(tl.int64) * stride_kb + (n % BLOCK_SIZE) * stride_ks + kv_head * stride_kh
        kv_mask = n_mask[:, None] & (d < HEAD_DIM)[None, :]
        k = tl.load(K + row[:, None] + d[None, :], mask=kv_mask, other=0.0)
        s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale
        s = tl.where(n_mask[None, :], s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(s - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(V + row[:, None] + d[None, :], mask=kv_mask, other=0.0)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
        m_i = m_new
    return m_i, l_i, acc, heads, q_mask


@triton.jit
def _decode_kernel(
    Q, K, V, O, BT, CTX, qk_scale,
    stride_qt, stride_qh, stride_ot, stride_oh, stride_bt, stride_kb, stride_ks, stride_kh,
    GROUP: tl.constexpr, BLOCK_G: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr,
    BLOCK_SIZE: tl.constexpr, BLOCK_N: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    seq = tl.program_id(0)
    kv_head = tl.program_id(1)
    ctx = tl.load(CTX + seq)
    m_i, l_i, acc, heads, q_mask = _decode_attend(
        Q, K, V, BT, seq, kv_head, 0, ctx, qk_scale, stride_qt, stride_qh, stride_bt, stride_kb, stride_ks, stride_kh,
        GROUP, BLOCK_G, HEAD_DIM, BLOCK_D, BLOCK_SIZE, BLOCK_N, PRECISION,
    )  # fmt: skip
    d = tl.arange(0, BLOCK_D)
    out = acc / l_i[:, None]
    tl.store(O + seq * stride_ot + heads[:, None] * stride_oh + d[None, :], out.to(O.dtype.element_ty), mask=q_mask)


@triton.jit
def _decode_split_kernel(
    Q, K, V, PART_O, PART_M, PART_L, BT, CTX, qk_scale,
    stride_qt, stride_qh, stride_bt, stride_kb, stride_ks, stride_kh,
    GROUP: tl.constexpr, BLOCK_G: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr,
    BLOCK_SIZE: tl.constexpr, BLOCK_N: tl.constexpr, PRECISION: tl.constexpr, SPLITS: tl.constexpr,
    NUM_HEADS: tl.constexpr, MIN_TILES: tl.constexpr,
):  # fmt: skip
    """`_decode_kernel` over one contiguous share of the context; writes the share's normalized output,
    running max and sum (an empty share: max -inf, sum 0)."""
    seq = tl.program_id(0)
    kv_head = tl.program_id(1)
    split = tl.program_id(2)
    ctx = tl.load(CTX + seq)
    per_split = tl.maximum(tl.cdiv(tl.cdiv(ctx, BLOCK_N), SPLITS), MIN_TILES) * BLOCK_N
    lo = split * per_split
    hi = tl.minimum(ctx, lo + per_split)
    m_i, l_i, acc, heads, q_mask = _decode_attend(
        Q, K, V, BT, seq, kv_head, lo, hi, qk_scale, stride_qt, stride_qh, stride_bt, stride_kb, stride_ks, stride_kh,
        GROUP, BLOCK_G, HEAD_DIM, BLOCK_D, BLOCK_SIZE, BLOCK_N, PRECISION,
    )  # fmt: skip
    g = tl.arange(0, BLOCK_G)
    d = tl.arange(0, BLOCK_D)
    part = (seq * SPLITS + split) * NUM_HEADS + heads
    out = acc / tl.where(l_i > 0, l_i, 1.0)[:, None]
    tl.store(PART_O + part[:, None] * BLOCK_D + d[None, :], out, mask=q_mask)
    tl.store(PART_M + part, m_i, mask=g < GROUP)
    tl.store(PART_L + part, l_i, mask=g < GROUP)


@triton.jit
def _decode_merge_kernel(
    PART_O, PART_M, PART_L, O, stride_ot, stride_oh,
    HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, SPLITS: tl.constexpr, NUM_HEADS: tl.constexpr,
):  # fmt: skip
    """Each share's output weighted by its softmax mass: sum_i l_i 2^(m_i - M) o_i / sum_i l_i 2^(m_i - M)."""
    seq = tl.program_id(0)
    head = tl.program_id(1)
    part = (seq * SPLITS + tl.arange(0, SPLITS)) * NUM_HEADS + head
    d = tl.arange(0, BLOCK_D)
    m = tl.load(PART_M + part)
    weight = tl.exp2(m - tl.max(m, 0)) * tl.load(PART_L + part)
    o = tl.load(PART_O + part[:, None] * BLOCK_D + d[None, :])
    out = tl.sum(weight[:, None] * o, 0) / tl.sum(weight, 0)
    tl.store(O + seq * stride_ot + head * stride_oh + d, out.to(O.dtype.element_ty), mask=d < HEAD_DIM)


@triton.jit
def _prefill_kernel(
    Q, K, V, O, BT, CTX, CU_Q, qk_scale,
    stride_qt, stride_qh, stride_ot, stride_oh, stride_bt, stride_kb, stride_ks, stride_kh,
    GROUP: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_SIZE: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    m_block = tl.program_id(0)
    seq = tl.program_id(1)
    head = tl.program_id(2)
    q_start = tl.load(CU_Q + seq)
    q_len = tl.load(CU_Q + seq + 1) - q_start
    if m_block * BLOCK_M >= q_len:
        return
    ctx = tl.load(CTX + seq)
    m = m_block * BLOCK_M + tl.arange(0, BLOCK_M)
    q_pos = ctx - q_len + m  # absolute position of each query token
    d = tl.arange(0, BLOCK_D)
    kv_head = head // GROUP
    q_mask = (m < q_len)[:, None] & (d < HEAD_DIM)[None, :]
    q = tl.load(Q + (q_start + m)[:, None] * stride_qt + head * stride_qh + d[None, :], mask=q_mask, other=0.0)

    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    end = tl.minimum(ctx, ctx - q_len + (m_block + 1) * BLOCK_M)  # no key beyond the block's last query
    for start in range(0, end, BLOCK_N):
        n = start + tl.arange(0, BLOCK_N)
        n_mask = n < end
        block = tl.load(BT + seq * stride_bt + n // BLOCK_SIZE, mask=n_mask, other=0)
        row = block.to(tl.int64) * stride_kb + (n % BLOCK_SIZE) * stride_ks + kv_head * stride_kh
        kv_mask = n_mask[:, None] & (d < HEAD_DIM)[None, :]
        k = tl.load(K + row[:, None] + d[None, :], mask=kv_mask, other=0.0)
        s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale
        s = tl.where((n[None, :] <= q_pos[:, None]) & n_mask[None, :], s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(s - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(V + row[:, None] + d[None, :], mask=kv_mask, other=0.0)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
        m_i = m_new
    out = acc / l_i[:, None]
    tl.store(O + (q_start + m)[:, None] * stride_ot + head * stride_oh + d[None, :], out.to(O.dtype.element_ty), mask=q_mask)


def _common(q, k_cache, out, block_tables, scale):
    heads, dim = q.shape[1], q.shape[2]
    kv_heads = k_cache.shape[2]
    strides = (q.stride(0), q.stride(1), out.stride(0), out.stride(1), block_tables.stride(0),
               k_cache.stride(0), k_cache.stride(1), k_cache.stride(2))  # fmt: skip
    consts = dict(
        GROUP=heads // kv_heads,
        HEAD_DIM=dim,
        BLOCK_D=triton.next_power_of_2(dim),
        BLOCK_SIZE=k_cache.shape[1],
        PRECISION="ieee" if q.dtype == torch.float32 else "tf32",
    )
    return strides, consts, scale * LOG2E


def decode_splits(num_seqs: int, kv_heads: int, multiprocessors: int) -> int:
    """Shares of the context per (sequence, KV head): 1 while the batch alone gives at least 1.5 programs
    per multiprocessor (splitting then cost 3-6% on an H200: batch 128 and 256), else a power of two up
    to 16 that brings a step to about 8 programs per multiprocessor (batch 32: the step 27% faster)."""
    base = num_seqs * kv_heads
    if 2 * base > 3 * multiprocessors:
        return 1
    splits = 1
    while splits < 16 and 2 * splits * base <= 8 * multiprocessors:
        splits *= 2
    return splits


def paged_decode(q, k_cache, v_cache, out, block_tables, context_lens, scale: float, splits: int = 1) -> None:
    """out[s, h] = softmax(q[s, h] . K[s]) V[s] over the first context_lens[s] cached tokens; `splits`
    (a power of two) programs share each sequence's context."""
    strides, consts, qk_scale = _common(q, k_cache, out, block_tables, scale)
    block_g = max(16, triton.next_power_of_2(consts["GROUP"]))
    if splits == 1:
        grid = (q.shape[0], k_cache.shape[2])
        _decode_kernel[grid](q, k_cache, v_cache, out, block_tables, context_lens, qk_scale, *strides,
                             BLOCK_G=block_g, **DECODE_CONFIG, **consts)  # fmt: skip
        return
    seqs, heads = q.shape[0], q.shape[1]
    part_o = torch.empty(seqs * splits * heads, consts["BLOCK_D"], dtype=torch.float32, device=q.device)
    part_m = torch.empty(seqs * splits * heads, dtype=torch.float32, device=q.device)
    part_l = torch.empty_like(part_m)
    q_strides = (strides[0], strides[1]) + strides[4:]  # no output strides: partials have their own layout
    _decode_split_kernel[(seqs, k_cache.shape[2], splits)](
        q, k_cache, v_cache, part_o, part_m, part_l, block_tables, context_lens, qk_scale, *q_strides,
        BLOCK_G=block_g, SPLITS=splits, NUM_HEADS=heads, MIN_TILES=DECODE_MIN_SPLIT_TILES, **DECODE_CONFIG, **consts,
    )  # fmt: skip
    _decode_merge_kernel[(seqs, heads)](part_o, part_m, part_l, out, out.stride(0), out.stride(1), HEAD_DIM=consts["HEAD_DIM"],
                                        BLOCK_D=consts["BLOCK_D"], SPLITS=splits, NUM_HEADS=heads)  # fmt: skip


def paged_prefill(q, k_cache, v_cache, out, block_tables, context_lens, cu_query_lens, max_query_len, scale) -> None:
    """Causal attention of each sequence's new tokens over its whole cached context."""
    strides, consts, qk_scale = _common(q, k_cache, out, block_tables, scale)
    grid = (triton.cdiv(max_query_len, PREFILL_CONFIG["BLOCK_M"]), context_lens.shape[0], q.shape[1])
    _prefill_kernel[grid](q, k_cache, v_cache, out, block_tables, context_lens, cu_query_lens, qk_scale, *strides,
                          **PREFILL_CONFIG, **consts)  # fmt: skip
