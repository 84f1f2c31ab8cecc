"""The sampling kernels of native v5 and v6 (2026-11-29), kept only so that `native_throughput.py
--sampler_sweep` can time them beside the current ones in the same run.

Both ran one program per sampled row. v5 reduced across the whole block at every iteration of its loops
(one block-wide max/argmax or sixteen block-wide sums per 1-2k tokens); v6 kept per-lane partials and
reduced once per pass, with 16-warp tiles. The current kernels (matheval/engines/native/triton_sampling.py)
also split each row across programs.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from matheval.engines.native.triton_sampling import _mix32, _order_key16, _u32


@triton.jit
def _gumbel_argmax_v5(LOGITS, ROWS, INV_T, KEYS, EDGE, OUT, stride_row, V, offset, HAS_EDGE: tl.constexpr,
                      BLOCK: tl.constexpr):  # fmt: skip
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
    best = tl.full([], float("-inf"), tl.float32)
    best_index = tl.full([], 0, tl.int64)
    for start in range(0, V, BLOCK):
        tokens = start + tl.arange(0, BLOCK)
        valid = tokens < V
        x = tl.load(row + tokens, mask=valid, other=float("-inf")).to(tl.float32)
        bits = _mix32(_mix32(tokens.to(tl.uint32) ^ row_a) ^ row_b)
        uniform = ((bits >> 9).to(tl.float32) + 0.5) / 8388608.0
        score = tl.where(valid & (x >= edge), x * inv_t - tl.log(-tl.log(uniform)), float("-inf"))
        block_best = tl.max(score, 0)
        if block_best > best:
            best = block_best
            best_index = start + tl.argmax(score, 0).to(tl.int64)
    tl.store(OUT + i, best_index)


@triton.jit
def _top_p_edge_v5(LOGITS, ROWS, INV_T, TOP_P, OUT, stride_row, V, BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64)
    row = LOGITS + tl.load(ROWS + i) * stride_row
    inv_t = tl.load(INV_T + i)
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
    lanes = tl.arange(0, 16)
    base = tl.full([], 0, tl.int32)
    for level in tl.static_range(4):
        shift = 12 - 4 * level
        candidates = base + (lanes << shift) + ((1 << shift) - 1)
        above = tl.zeros([16], tl.float32)
        for start in range(0, V, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            x = tl.load(row + cols, mask=cols < V, other=float("-inf"))
            e = tl.exp(x.to(tl.float32) * inv_t - top)
            hit = _order_key16(x)[None, :] > candidates[:, None]
            above += tl.sum(tl.where(hit, e[None, :], 0.0), 1)
        holds = (above < target) | (lanes == 15)
        base += tl.min(tl.where(holds, lanes, 16), 0) << shift
    bits = tl.where(base >= 32768, base - 32768, -1 - base).to(tl.int16)
    edge = bits.to(LOGITS.dtype.element_ty, bitcast=True).to(tl.float32)
    tl.store(OUT + i, tl.where(tl.load(TOP_P + i) >= 1.0, float("-inf"), edge))


def top_p_edge_v5(logits, rows, inv_temperature, top_p) -> torch.Tensor:
    out = torch.empty(rows.shape[0], dtype=torch.float32, device=logits.device)
    _top_p_edge_v5[(rows.shape[0],)](logits, rows, inv_temperature, top_p, out, logits.stride(0), logits.shape[1],
                                     BLOCK=1024, num_warps=8)  # fmt: skip
    return out


def gumbel_argmax_v5(logits, rows, inv_temperature, keys, offset: int = 0, edge=None) -> torch.Tensor:
    out = torch.empty(rows.shape[0], dtype=torch.int64, device=logits.device)
    _gumbel_argmax_v5[(rows.shape[0],)](logits, rows, inv_temperature, keys.contiguous(),
                                        out if edge is None else edge, out, logits.stride(0), logits.shape[1], offset,
                                        HAS_EDGE=edge is not None, BLOCK=2048, num_warps=8)  # fmt: skip
    return out


@triton.jit
def _gumbel_argmax_v6(
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


@triton.jit
def _top_p_edge_v6(LOGITS, ROWS, INV_T, TOP_P, OUT, stride_row, V, BLOCK: tl.constexpr):
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


def top_p_edge_v6(logits, rows, inv_temperature, top_p) -> torch.Tensor:
    out = torch.empty(rows.shape[0], dtype=torch.float32, device=logits.device)
    _top_p_edge_v6[(rows.shape[0],)](logits, rows, inv_temperature, top_p, out, logits.stride(0), logits.shape[1],
                                     BLOCK=2048, num_warps=16)  # fmt: skip
    return out


def gumbel_argmax_v6(logits, rows, inv_temperature, keys, offset: int = 0, edge=None) -> torch.Tensor:
    out = torch.empty(rows.shape[0], dtype=torch.int64, device=logits.device)
    _gumbel_argmax_v6[(rows.shape[0],)](logits, rows, inv_temperature, keys.contiguous(),
                                        out if edge is None else edge, out, logits.stride(0), logits.shape[1], offset,
                                        HAS_EDGE=edge is not None, BLOCK=4096, num_warps=16)  # fmt: skip
    return out
