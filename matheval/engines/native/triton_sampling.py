"""The sampler's GPU kernels in Triton: the top-p nucleus edge (searched, not sorted) and the Gumbel-max
draw, both reading the 16-bit logits in place.

Each row is split into chunks of `SAMPLE_CHUNK` tokens, one program per (row, chunk), so a batch of 74 rows
keeps every multiprocessor busy instead of 74 of them (one program per row spent 320-650 us per step on an
H200 at 74-256 rows). Programs write partial results; the next launch combines them in a fixed order. The
chunking depends only on the vocabulary, never on the batch, so a seeded row draws the same token whatever
else shares its batch.

The edge (sampler.top_p_threshold's definition): the smallest value of the row whose mass strictly above
it is below top_p times the row's mass. Launches: one online-softmax pass (each chunk's max and sum), then
four passes that each fix 4 bits of the edge's 16-bit order key (sixteen candidate keys per pass, the mass
strictly above each), then one program per row reads the edge off. Every launch that needs an earlier
decision recomputes it from the stored partials with the same code and tile, so all agree bit for bit.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

SAMPLE_CHUNK = 16384  # tokens per program (152k vocabulary: 10 programs per row)
MAX_SPLITS = 16  # programs per row at most: a larger vocabulary gets longer chunks
LEVELS = 4  # search passes of 4 bits: a 16-bit key
# The edge kernels share one tile, so that the decisions each recomputes from the partials round alike;
# 4 warps were faster than 8 at 74-256 rows on an H200 (benchmarks/native_throughput.py --sampler_sweep).
BLOCK, WARPS = 1024, 4
GUMBEL_BLOCK, GUMBEL_WARPS = 2048, 8


def chunking(vocab: int) -> tuple[int, int]:
    """(tokens per program, programs per row) for a vocabulary: a function of the vocabulary only."""
    chunk = max(SAMPLE_CHUNK, -(-vocab // MAX_SPLITS))
    chunk = -(-chunk // GUMBEL_BLOCK) * GUMBEL_BLOCK
    return chunk, -(-vocab // chunk)


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
def _order_key16(x):
    """A 16-bit float's bits -> int32 in [0, 65536) in the same order (negative values' bits flipped)."""
    bits = x.to(tl.int16, bitcast=True).to(tl.int32)
    return tl.where(bits >= 0, bits + 32768, -1 - bits)


# -- partial results: [rows, 1 + LEVELS, MAX_SPLITS, 16] fp32 ---------------------------------------------
# slot 0: each chunk's max (lane 0) and sum of exp(s - max) (lane 1); slot 1 + level: each chunk's mass
# strictly above the level's sixteen candidate keys.
@triton.jit
def _row_mass(part, splits, MAX_SPLITS: tl.constexpr):
    """The row's max scaled logit and its sum of exp(s - max), from the chunks' partials."""
    c = tl.arange(0, MAX_SPLITS)
    m = tl.load(part + c * 16, mask=c < splits, other=float("-inf"))
    z = tl.load(part + c * 16 + 1, mask=c < splits, other=0.0)
    top = tl.max(m, 0)
    return top, tl.sum(tl.where(m == float("-inf"), 0.0, z * tl.exp(m - top)), 0)


@triton.jit
def _edge_key(part, splits, target, LEVELS_DONE: tl.constexpr, MAX_SPLITS: tl.constexpr):
    """The order-key bits the first LEVELS_DONE passes fixed: at each, the first of the sixteen candidates
    whose mass strictly above is below the target (the last sixteenth always holds)."""
    lanes = tl.arange(0, 16)
    c = tl.arange(0, MAX_SPLITS)
    base = tl.full([], 0, tl.int32)
    for level in tl.static_range(LEVELS_DONE):
        ptrs = part + (1 + level) * MAX_SPLITS * 16 + c[:, None] * 16 + lanes[None, :]
        above = tl.sum(tl.load(ptrs, mask=(c < splits)[:, None], other=0.0), 0)
        holds = (above < target) | (lanes == 15)
        base += tl.min(tl.where(holds, lanes, 16), 0) << (12 - 4 * level)
    return base


@triton.jit
def _softmax_part_kernel(LOGITS, ROWS, INV_T, PART, stride_row, V, CHUNK, MAX_SPLITS: tl.constexpr,
                         LEVELS: tl.constexpr, BLOCK: tl.constexpr):  # fmt: skip
    i = tl.program_id(0).to(tl.int64)
    c = tl.program_id(1)
    row = LOGITS + tl.load(ROWS + i) * stride_row
    inv_t = tl.load(INV_T + i)
    lo = c * CHUNK
    hi = tl.minimum(lo + CHUNK, V)
    running_max = tl.full([BLOCK], float("-inf"), tl.float32)
    running_sum = tl.zeros([BLOCK], tl.float32)
    for start in range(lo, hi, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        s = tl.load(row + cols, mask=cols < hi, other=float("-inf")).to(tl.float32) * inv_t
        new_max = tl.maximum(running_max, s)
        safe = tl.where(new_max == float("-inf"), 0.0, new_max)
        running_sum = running_sum * tl.exp(running_max - safe) + tl.exp(s - safe)
        running_max = new_max
    m = tl.max(running_max, 0)
    z = tl.sum(tl.where(running_max == float("-inf"), 0.0, running_sum * tl.exp(running_max - m)), 0)
    part = PART + i * (1 + LEVELS) * MAX_SPLITS * 16 + c * 16
    tl.store(part, m)
    tl.store(part + 1, z)


@triton.jit
def _edge_level_kernel(LOGITS, ROWS, INV_T, TOP_P, PART, stride_row, V, CHUNK, splits, LEVEL: tl.constexpr,
                       MAX_SPLITS: tl.constexpr, LEVELS: tl.constexpr, BLOCK: tl.constexpr):  # fmt: skip
    i = tl.program_id(0).to(tl.int64)
    c = tl.program_id(1)
    row = LOGITS + tl.load(ROWS + i) * stride_row
    inv_t = tl.load(INV_T + i)
    part = PART + i * (1 + LEVELS) * MAX_SPLITS * 16
    top, total = _row_mass(part, splits, MAX_SPLITS)
    base = _edge_key(part, splits, tl.load(TOP_P + i) * total, LEVEL, MAX_SPLITS)
    shift = 12 - 4 * LEVEL
    lanes = tl.arange(0, 16)
    candidates = base + (lanes << shift) + ((1 << shift) - 1)
    lo = c * CHUNK
    hi = tl.minimum(lo + CHUNK, V)
    above = tl.zeros([16, BLOCK], tl.float32)  # per lane; summed once after the loop
    for start in range(lo, hi, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        x = tl.load(row + cols, mask=cols < hi, other=float("-inf"))
        e = tl.exp(x.to(tl.float32) * inv_t - top)
        hit = _order_key16(x)[None, :] > candidates[:, None]
        above += tl.where(hit, e[None, :], 0.0)
    tl.store(part + (1 + LEVEL) * MAX_SPLITS * 16 + c * 16 + lanes, tl.sum(above, 1))


@triton.jit
def _edge_read_kernel(LOGITS, TOP_P, PART, OUT, splits, MAX_SPLITS: tl.constexpr, LEVELS: tl.constexpr):
    i = tl.program_id(0).to(tl.int64)
    part = PART + i * (1 + LEVELS) * MAX_SPLITS * 16
    top_p = tl.load(TOP_P + i)
    _, total = _row_mass(part, splits, MAX_SPLITS)
    key = _edge_key(part, splits, top_p * total, LEVELS, MAX_SPLITS)
    bits = tl.where(key >= 32768, key - 32768, -1 - key).to(tl.int16)
    edge = bits.to(LOGITS.dtype.element_ty, bitcast=True).to(tl.float32)
    tl.store(OUT + i, tl.where(top_p >= 1.0, float("-inf"), edge))


def top_p_edge(logits: torch.Tensor, rows, inv_temperature, top_p) -> torch.Tensor:
    """sampler.top_p_threshold without sorting, for 16-bit logits read in place: each sampled row's
    nucleus edge as a logit value (-inf where top_p >= 1). rows: [k] int64 row numbers of `logits`."""
    assert logits.element_size() == 2, "top_p_edge searches 16-bit values (bf16/fp16 logits)"
    k, vocab = rows.shape[0], logits.shape[1]
    chunk, splits = chunking(vocab)
    part = torch.empty(k, 1 + LEVELS, MAX_SPLITS, 16, dtype=torch.float32, device=logits.device)
    common = dict(MAX_SPLITS=MAX_SPLITS, LEVELS=LEVELS, num_warps=WARPS)
    _softmax_part_kernel[(k, splits)](logits, rows, inv_temperature, part, logits.stride(0), vocab, chunk,
                                      BLOCK=BLOCK, **common)  # fmt: skip
    for level in range(LEVELS):
        _edge_level_kernel[(k, splits)](logits, rows, inv_temperature, top_p, part, logits.stride(0), vocab, chunk,
                                        splits, LEVEL=level, BLOCK=BLOCK, **common)  # fmt: skip
    out = torch.empty(k, dtype=torch.float32, device=logits.device)
    _edge_read_kernel[(k,)](logits, top_p, part, out, splits, **common)
    return out


# -- the draw ---------------------------------------------------------------------------------------------
@triton.jit
def _gumbel_part_kernel(
    LOGITS, ROWS, INV_T, KEYS, EDGE, BEST, BEST_INDEX, stride_row, V, CHUNK, offset,
    HAS_EDGE: tl.constexpr, MAX_SPLITS: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    i = tl.program_id(0).to(tl.int64)
    c = tl.program_id(1)
    row = LOGITS + tl.load(ROWS + i) * stride_row
    inv_t = tl.load(INV_T + i)
    key_a, key_b, step = tl.load(KEYS + 3 * i), tl.load(KEYS + 3 * i + 1), tl.load(KEYS + 3 * i + 2) + offset
    row_a = _mix32(_u32(key_a) ^ _mix32(_u32(step)))
    row_b = _mix32(_u32(key_b) ^ _mix32(_u32(step + 0x632BE5AB)))
    if HAS_EDGE:
        edge = tl.load(EDGE + i)
    else:
        edge = float("-inf")
    lo = c * CHUNK
    hi = tl.minimum(lo + CHUNK, V)
    # each lane keeps the first maximum of its own tokens (visited in increasing order)
    best = tl.full([BLOCK], float("-inf"), tl.float32)
    best_index = tl.full([BLOCK], 0, tl.int32) + lo
    for start in range(lo, hi, BLOCK):
        tokens = start + tl.arange(0, BLOCK)
        valid = tokens < hi
        x = tl.load(row + tokens, mask=valid, other=float("-inf")).to(tl.float32)
        bits = _mix32(_mix32(tokens.to(tl.uint32) ^ row_a) ^ row_b)
        uniform = ((bits >> 9).to(tl.float32) + 0.5) / 8388608.0
        score = tl.where(valid & (x >= edge), x * inv_t - tl.log(-tl.log(uniform)), float("-inf"))
        better = score > best  # strictly greater: the first maximum wins, as in torch.argmax
        best = tl.where(better, score, best)
        best_index = tl.where(better, tokens, best_index)
    top = tl.max(best, 0)
    tl.store(BEST + i * MAX_SPLITS + c, top)
    tl.store(BEST_INDEX + i * MAX_SPLITS + c, tl.min(tl.where(best == top, best_index, V), 0))


@triton.jit
def _gumbel_pick_kernel(BEST, BEST_INDEX, OUT, splits, V, MAX_SPLITS: tl.constexpr):
    i = tl.program_id(0).to(tl.int64)
    c = tl.arange(0, MAX_SPLITS)
    best = tl.load(BEST + i * MAX_SPLITS + c, mask=c < splits, other=float("-inf"))
    index = tl.load(BEST_INDEX + i * MAX_SPLITS + c, mask=c < splits, other=V)
    top = tl.max(best, 0)
    tl.store(OUT + i, tl.min(tl.where(best == top, index, V), 0).to(tl.int64))


def gumbel_argmax(logits, rows, inv_temperature, keys, offset: int = 0, edge=None) -> torch.Tensor:
    """For each sampled row r = rows[i]: argmax(logits[r] * inv_temperature[i] + sampler.gumbel_noise(keys[i]))
    over the tokens at or above edge[i] (the top-p nucleus; None: all), the first maximum on ties, with the
    logits read as they are (no fp32 copy, no [rows, vocab] int64 temporaries). keys: [k, 3] int64 (key_a,
    key_b, output position at the round's first step); `offset` is added to the position."""
    k, vocab = rows.shape[0], logits.shape[1]
    chunk, splits = chunking(vocab)
    best = torch.empty(k, MAX_SPLITS, dtype=torch.float32, device=logits.device)
    best_index = torch.empty(k, MAX_SPLITS, dtype=torch.int32, device=logits.device)
    _gumbel_part_kernel[(k, splits)](
        logits, rows, inv_temperature, keys.contiguous(), best if edge is None else edge, best, best_index,
        logits.stride(0), vocab, chunk, offset, HAS_EDGE=edge is not None, MAX_SPLITS=MAX_SPLITS,
        BLOCK=GUMBEL_BLOCK, num_warps=GUMBEL_WARPS,
    )  # fmt: skip
    out = torch.empty(k, dtype=torch.int64, device=logits.device)
    _gumbel_pick_kernel[(k,)](best, best_index, out, splits, vocab, MAX_SPLITS=MAX_SPLITS, num_warps=1)
    return out

