"""Batch-invariant matrix products in Triton: y = x @ W^T (+ bias), a row's bits independent of the batch.

cuBLAS (behind nn.Linear) chooses its algorithm, tile and split-K by the row count M, so the same row is
summed over K in another order when the batch around it changes, and a bf16 greedy run drifts apart
between two concurrencies after a few dozen tokens. Here the tile configuration belongs to the weight
shape (N, K) and never to M: every output element is its fp32 sum over K in BLOCK_K steps, in order,
by the matrix instructions of one compiled kernel (M is not specialized on), the bias added once at the
end; no split-K, no autotuning keyed on M. A row's place inside its M-tile does not matter either: the
matrix instructions compute each row on its own (what "Defeating Nondeterminism in LLM Inference",
Thinking Machines 2025, and vLLM's VLLM_BATCH_INVARIANT mode rely on too).

Tile shapes are tunable per weight shape: `CONFIGS[(N, K)] = GemmConfig(...)` before the engine starts
(benchmarks/determinism_probe.py times alternatives on a GPU); any config is batch-invariant, a change
of config changes the bits (not the invariance).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl


@dataclass(frozen=True)
class GemmConfig:
    block_m: int = 64  # rows per program (a Hopper warpgroup's MMA takes 64)
    block_n: int = 64
    block_k: int = 64  # the step of the sum over K: part of the numerics
    group_m: int = 8  # programs of neighbouring M-tiles run together (L2 reuse of the weight tile); not numerics
    num_warps: int = 4
    num_stages: int = 4


# Tuned configurations by weight shape (N, K); every other shape gets `default_config`.
CONFIGS: dict[tuple[int, int], GemmConfig] = {}
SHARED_MEMORY_BUDGET = 160 * 1024  # bytes of pipelined tiles per program (an H100/H200 has 227 KB)


def default_config(n: int, k: int) -> GemmConfig:
    """A decode-minded default. A decode batch has up to 256 rows, and every M-tile streams the whole weight
    through L2 (and every N-tile the whole activation): 128-row tiles halve the first against 64-row ones
    (a full batch reads each weight twice, a batch of <= 128 once). Narrow N-tiles for the small
    projections keep enough programs streaming them; long sums over K take 128-wide steps."""
    wide = n >= 8192  # gate_up, lm_head
    return GemmConfig(block_m=128, block_n=128 if wide else 64, block_k=128 if k >= 4096 else 64,
                      num_warps=8 if wide else 4)


def config_for(n: int, k: int) -> GemmConfig:
    return CONFIGS.get((n, k)) or default_config(n, k)


@triton.jit(do_not_specialize=["M"])
def _gemm_kernel(
    X, W, B, Y, M, N, K, stride_xm, stride_wn, stride_ym,
    HAS_BIAS: tl.constexpr, EVEN_K: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    num_m = tl.cdiv(M, BLOCK_M)
    num_n = tl.cdiv(N, BLOCK_N)
    # Grouped order: GROUP_M M-tiles of one N-tile are neighbours in launch order (which program computes
    # which tile changes nothing in what a tile computes).
    per_group = GROUP_M * num_n
    first_m = (pid // per_group) * GROUP_M
    size_m = tl.minimum(num_m - first_m, GROUP_M)
    pid_m = first_m + (pid % per_group) % size_m
    pid_n = (pid % per_group) // size_m

    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    m_mask = rm < M
    n_mask = rn < N
    x_ptrs = X + rm[:, None].to(tl.int64) * stride_xm + rk[None, :]
    w_ptrs = W + rn[None, :].to(tl.int64) * stride_wn + rk[:, None]  # W^T tile: [BLOCK_K, BLOCK_N]
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for step in range(0, tl.cdiv(K, BLOCK_K)):
        if EVEN_K:
            x = tl.load(x_ptrs, mask=m_mask[:, None], other=0.0)
            w = tl.load(w_ptrs, mask=n_mask[None, :], other=0.0)
        else:
            left = K - step * BLOCK_K
            x = tl.load(x_ptrs, mask=m_mask[:, None] & (rk[None, :] < left), other=0.0)
            w = tl.load(w_ptrs, mask=n_mask[None, :] & (rk[:, None] < left), other=0.0)
        acc = tl.dot(x, w, acc, input_precision=PRECISION)
        x_ptrs += BLOCK_K
        w_ptrs += BLOCK_K
    if HAS_BIAS:
        acc += tl.load(B + rn, mask=n_mask, other=0.0).to(tl.float32)[None, :]
    y_ptrs = Y + rm[:, None].to(tl.int64) * stride_ym + rn[None, :]
    tl.store(y_ptrs, acc.to(Y.dtype.element_ty), mask=m_mask[:, None] & n_mask[None, :])


def launch_settings(n: int, k: int, element_size: int) -> tuple[GemmConfig, dict]:
    """The shape's config and its kernel constants; pipelining depth is capped by shared memory (fp32 tiles
    are twice as large), which changes the schedule only, never the sums."""
    c = config_for(n, k)
    per_stage = (c.block_m + c.block_n) * c.block_k * element_size
    stages = max(1, min(c.num_stages, SHARED_MEMORY_BUDGET // per_stage))
    consts = dict(EVEN_K=k % c.block_k == 0, BLOCK_M=c.block_m, BLOCK_N=c.block_n, BLOCK_K=c.block_k,
                  GROUP_M=c.group_m, PRECISION="ieee" if element_size == 4 else "tf32",
                  num_warps=c.num_warps, num_stages=stages)  # fmt: skip
    return c, consts


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """F.linear(x, weight, bias) with a fixed reduction order (fp32 inputs summed in full fp32, as torch does)."""
    k = x.shape[-1]
    n = weight.shape[0]
    rows = x.reshape(-1, k)
    if rows.stride(-1) != 1:
        rows = rows.contiguous()
    assert weight.stride(-1) == 1 and weight.shape[1] == k, "weight must be [N, K] with contiguous rows"
    m = rows.shape[0]
    out = torch.empty((m, n), dtype=x.dtype, device=x.device)
    if m:
        c, consts = launch_settings(n, k, x.element_size())
        grid = (triton.cdiv(m, c.block_m) * triton.cdiv(n, c.block_n),)
        _gemm_kernel[grid](rows, weight, weight if bias is None else bias, out, m, n, k,
                           rows.stride(0), weight.stride(0), out.stride(0), HAS_BIAS=bias is not None, **consts)  # fmt: skip
    return out.view(*x.shape[:-1], n)
