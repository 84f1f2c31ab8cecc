"""Batch-invariant paged attention: one Triton kernel for prefill and decode, with one reduction order.

The default kernels (`triton_kernels`) are tuned apart: decode and prefill tile the keys differently, and
decode splits a context into a number of shares chosen from the batch size. So a token's attention output,
and hence its K/V in the next layers, changes with the batch, with whether its prompt came from the prefix
cache, and between the decode step that made it and a prefill that recomputes it (preemption, an agent's
prompt that repeats an earlier answer). Here the order of every sum depends only on the query's position:

- the context is cut into chunks of CHUNK tokens at absolute positions 0, CHUNK, 2 CHUNK, ...; each chunk
  is an online softmax over BLOCK_N-key tiles in order (a row's masked keys, beyond its position or past
  the chunk, add exact zeros), giving an unnormalized (max, sum, output) partial;
- the partials are folded in chunk order, 0, 1, 2, ..., with fused multiply-adds, and divided once.

One compiled kernel does all of it: a program is a tile of BLOCK_M query rows, BLOCK_M // GROUP tokens of
one sequence times the GROUP query heads of one KV head (a decode step is a one-token tile). A program
either folds its chunks itself (prefill; decode of large batches) or, when a small decode batch would
leave the GPU idle, `splits` programs share a sequence's chunks (chunk c goes to program c mod splits) and
write the partials, which `_fold_kernel` folds in the same order with the same operations. So the split,
a function of the batch, moves work between programs without changing a bit. The matrix instructions
compute each row of a tile on its own, so where a row sits in its tile does not matter either.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .triton_kernels import LOG2E

# Shared by prefill and decode (they must be one compiled variant); tunable, numerics change with
# BLOCK_N and CHUNK only. BLOCK_M 16 = the smallest matrix-instruction tile: a decode step's 1 token x GROUP.
CONFIG = {"BLOCK_M": 16, "BLOCK_N": 64, "num_warps": 2, "num_stages": 3}
CHUNK_TILES = 4  # a chunk is CHUNK_TILES x BLOCK_N tokens (256): the unit that programs can share


@triton.jit
def _merge(m, l, acc, m_c, l_c, acc_c):
    """Fold a chunk's partial into the running one; from (-inf, 0, 0) it yields the partial exactly, and a
    chunk a row cannot see (-inf, 0, 0) leaves the row exactly as it was."""
    m_new = tl.maximum(m, m_c)
    a = tl.exp2(m - m_new)
    b = tl.exp2(m_c - m_new)
    return m_new, tl.fma(l, a, l_c * b), tl.fma(acc, a[:, None], acc_c * b[:, None])


@triton.jit
def _chunk(
    q, K, V, BT, seq, kv_head, lo, hi, q_pos, qk_scale, stride_bt, stride_kb, stride_ks, stride_kh,
    BLOCK_M: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_SIZE: tl.constexpr,
    BLOCK_N: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    """Online softmax of the tile's rows over cached tokens lo..hi-1 (row r sees keys <= q_pos[r])."""
    d = tl.arange(0, BLOCK_D)
    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    for start in range(lo, hi, BLOCK_N):
        n = start + tl.arange(0, BLOCK_N)
        n_mask = n < hi
        block = tl.load(BT + seq * stride_bt + n // BLOCK_SIZE, mask=n_mask, other=0)
        row = block.to(tl.int64) * stride_kb + (n % BLOCK_SIZE) * stride_ks + kv_head * stride_kh
        kv_mask = n_mask[:, None] & (d < HEAD_DIM)[None, :]
        k = tl.load(K + row[:, None] + d[None, :], mask=kv_mask, other=0.0)
        s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale
        s = tl.where((n[None, :] <= q_pos[:, None]) & n_mask[None, :], s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)  # a row with no key seen yet stays (-inf, 0, 0)
        alpha = tl.exp2(m_i - m_safe)
        p = tl.exp2(s - m_safe[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(V + row[:, None] + d[None, :], mask=kv_mask, other=0.0)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
        m_i = m_new
    return m_i, l_i, acc


@triton.jit(do_not_specialize=["stride_bt", "splits", "max_chunks"])
def _attention_kernel(
    Q, K, V, O, PART_O, PART_M, PART_L, BT, CTX, CU_Q, qk_scale,
    stride_qt, stride_qh, stride_ot, stride_oh, stride_bt, stride_kb, stride_ks, stride_kh, splits, max_chunks,
    GROUP: tl.constexpr, NUM_HEADS: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr,
    BLOCK_SIZE: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_Q: tl.constexpr, BLOCK_N: tl.constexpr,
    CHUNK: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    tile = tl.program_id(0) // splits  # BLOCK_Q query tokens of one sequence x the GROUP heads of one KV head
    share = tl.program_id(0) % splits
    seq = tl.program_id(1)
    kv_head = tl.program_id(2)
    q_start = tl.load(CU_Q + seq)
    q_len = tl.load(CU_Q + seq + 1) - q_start
    if tile * BLOCK_Q >= q_len:
        return
    ctx = tl.load(CTX + seq)
    r = tl.arange(0, BLOCK_M)
    d = tl.arange(0, BLOCK_D)
    token = tile * BLOCK_Q + r // GROUP
    head = kv_head * GROUP + r % GROUP
    valid = (r < BLOCK_Q * GROUP) & (token < q_len)
    q_pos = ctx - q_len + token  # absolute position of each row's token
    mask = valid[:, None] & (d < HEAD_DIM)[None, :]
    q = tl.load(Q + (q_start + token)[:, None] * stride_qt + head[:, None] * stride_qh + d[None, :], mask=mask, other=0.0)

    end = tl.minimum(ctx, ctx - q_len + (tile + 1) * BLOCK_Q)  # no key beyond the tile's last query
    m = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    for c in range(share, tl.cdiv(end, CHUNK), splits):
        lo = c * CHUNK
        m_c, l_c, acc_c = _chunk(
            q, K, V, BT, seq, kv_head, lo, tl.minimum(end, lo + CHUNK), q_pos, qk_scale, stride_bt, stride_kb,
            stride_ks, stride_kh, BLOCK_M, HEAD_DIM, BLOCK_D, BLOCK_SIZE, BLOCK_N, PRECISION,
        )  # fmt: skip
        if splits > 1:  # decode only (one token per tile): the fold kernel folds the partials
            part = (seq * max_chunks + c) * NUM_HEADS + head
            tl.store(PART_O + part[:, None] * BLOCK_D + d[None, :], acc_c, mask=mask)
            tl.store(PART_M + part, m_c, mask=valid)
            tl.store(PART_L + part, l_c, mask=valid)
        else:
            m, l, acc = _merge(m, l, acc, m_c, l_c, acc_c)
    if splits == 1:
        out = acc / l[:, None]
        tl.store(O + (q_start + token)[:, None] * stride_ot + head[:, None] * stride_oh + d[None, :],
                 out.to(O.dtype.element_ty), mask=mask)  # fmt: skip


@triton.jit(do_not_specialize=["max_chunks"])
def _fold_kernel(
    PART_O, PART_M, PART_L, O, CTX, stride_ot, stride_oh, max_chunks,
    NUM_HEADS: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, CHUNK: tl.constexpr,
):  # fmt: skip
    """The split decode's partials of one (sequence, head), folded in chunk order as `_attention_kernel` folds."""
    seq = tl.program_id(0)
    head = tl.program_id(1)
    d = tl.arange(0, BLOCK_D)
    one = tl.arange(0, 1)
    m = tl.full([1], float("-inf"), tl.float32)
    l = tl.zeros([1], tl.float32)
    acc = tl.zeros([1, BLOCK_D], tl.float32)
    for c in range(0, tl.cdiv(tl.load(CTX + seq), CHUNK)):
        part = (seq * max_chunks + c) * NUM_HEADS + head + one
        m_c = tl.load(PART_M + part)
        l_c = tl.load(PART_L + part)
        acc_c = tl.load(PART_O + part[:, None] * BLOCK_D + d[None, :])
        m, l, acc = _merge(m, l, acc, m_c, l_c, acc_c)
    out = acc / l[:, None]
    tl.store(O + seq * stride_ot + head * stride_oh + one[:, None] + d[None, :], out.to(O.dtype.element_ty),
             mask=(d < HEAD_DIM)[None, :])  # fmt: skip


_SCRATCH: dict = {}  # per device: an fp32 stand-in for the partial buffers, and decode's query offsets


def _scratch(device, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(a small fp32 tensor, arange(>= rows + 1) int32): the same argument types whether or not a call
    splits, so that prefill, decode and split decode run one compiled kernel. Made outside graph capture:
    the first decode call is the largest bucket's warm-up run."""
    key = str(device)
    if key not in _SCRATCH or _SCRATCH[key][1].shape[0] <= rows:
        _SCRATCH[key] = (torch.zeros(16, dtype=torch.float32, device=device),
                         torch.arange(max(rows, 1024) + 1, dtype=torch.int32, device=device))  # fmt: skip
    return _SCRATCH[key]


def _launch(q, k_cache, v_cache, out, block_tables, context_lens, cu_query_lens, tiles, scale, splits=1):
    heads, dim = q.shape[1], q.shape[2]
    kv_heads, block_size = k_cache.shape[2], k_cache.shape[1]
    group = heads // kv_heads
    block_m = max(CONFIG["BLOCK_M"], triton.next_power_of_2(group))
    block_q = block_m // group
    block_d = triton.next_power_of_2(dim)
    chunk = CHUNK_TILES * CONFIG["BLOCK_N"]
    seqs = context_lens.shape[0]
    dummy, _ = _scratch(q.device, 0)
    parts = (dummy, dummy, dummy)
    max_chunks = 1
    if splits > 1:
        max_chunks = triton.cdiv(block_tables.shape[1] * block_size, chunk)
        rows = seqs * max_chunks * heads
        parts = (torch.empty(rows, block_d, dtype=torch.float32, device=q.device),
                 torch.empty(rows, dtype=torch.float32, device=q.device),
                 torch.empty(rows, dtype=torch.float32, device=q.device))  # fmt: skip
    consts = dict(GROUP=group, NUM_HEADS=heads, HEAD_DIM=dim, BLOCK_D=block_d, BLOCK_SIZE=block_size, BLOCK_M=block_m,
                  BLOCK_Q=block_q, BLOCK_N=CONFIG["BLOCK_N"], CHUNK=chunk, PRECISION="ieee" if q.dtype == torch.float32 else "tf32",
                  num_warps=CONFIG["num_warps"], num_stages=CONFIG["num_stages"])  # fmt: skip
    _attention_kernel[(tiles * splits, seqs, kv_heads)](
        q, k_cache, v_cache, out, *parts, block_tables, context_lens, cu_query_lens, scale * LOG2E,
        q.stride(0), q.stride(1), out.stride(0), out.stride(1), block_tables.stride(0), k_cache.stride(0),
        k_cache.stride(1), k_cache.stride(2), splits, max_chunks, **consts,
    )  # fmt: skip
    if splits > 1:
        _fold_kernel[(seqs, heads)](*parts, out, context_lens, out.stride(0), out.stride(1), max_chunks, NUM_HEADS=heads,
                                    HEAD_DIM=dim, BLOCK_D=block_d, CHUNK=chunk)  # fmt: skip


def query_tile_tokens(heads: int, kv_heads: int) -> int:
    """Query tokens per program: the tile's rows are tokens x the GROUP heads of one KV head."""
    group = heads // kv_heads
    return max(CONFIG["BLOCK_M"], triton.next_power_of_2(group)) // group


def paged_decode(q, k_cache, v_cache, out, block_tables, context_lens, scale: float, splits: int = 1) -> None:
    """One query token per sequence over its first context_lens[s] cached tokens; `splits` programs share
    each sequence's chunks (any number: the result is the same)."""
    _, cu = _scratch(q.device, q.shape[0])
    _launch(q, k_cache, v_cache, out, block_tables, context_lens, cu[: q.shape[0] + 1], 1, scale, splits)


def paged_prefill(q, k_cache, v_cache, out, block_tables, context_lens, cu_query_lens, max_query_len, scale) -> None:
    """Causal attention of each sequence's new tokens over its whole cached context."""
    tiles = triton.cdiv(max_query_len, query_tile_tokens(q.shape[1], k_cache.shape[2]))
    _launch(q, k_cache, v_cache, out, block_tables, context_lens, cu_query_lens, tiles, scale)
