"""The deterministic (batch-invariant) mode: what it changes, and the torch path's matrix product.

A request's tokens may depend only on the request (prompt, sampling settings, seed), not on what else the
engine runs beside it: another --concurrency or batch size, prefix-cache hits, preemption, CUDA graphs or
eager. Each reduction must then be summed in an order that the request alone fixes:

| step | default | deterministic |
| --- | --- | --- |
| q/k/v, o, gate/up, down, lm_head | cuBLAS / MKL (their kernel depends on the row count) | GPU: `triton_gemm` (one tile config per weight shape); CPU: `blocked_linear` |
| attention | GPU: decode and prefill kernels tiled apart, decode split by batch size | GPU: `triton_unified` (fixed chunks of the context, one kernel); CPU: per query |
| RMSNorm, RoPE, SiLU, residual | GPU: Triton, one row per program (q/k norms: torch) | the same, q/k norms included |
| sampling | per row, chunks fixed by the vocabulary (`triton_sampling`, `sampler`) | the same |

The same order is taken whether a position is computed in a prefill or a decode step, so the prefix cache
(blocks an earlier request prefilled or decoded) and recomputation after preemption give the same bits too.

On the CPU, torch's attention path computes every sequence on its own; in deterministic mode a prefill
also computes every query on its own (`TorchAttention`), exactly the call a decode step makes for that
position. MKL's fp32 products are not row-count invariant (measured: M = 1, 2-3 and >= 4 rows each sum in
another order), but one fixed row count is: a row's bits do not depend on its place or its neighbours
(checked at 4-32 rows; 8 keeps a small decode batch cheap), so `blocked_linear` runs every product as blocks of CPU_ROW_BLOCK rows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CPU_ROW_BLOCK = 8


def blocked_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """F.linear in blocks of exactly CPU_ROW_BLOCK rows (the last one padded with zeros)."""
    rows = x.reshape(-1, x.shape[-1])
    m = rows.shape[0]
    padded = -(-m // CPU_ROW_BLOCK) * CPU_ROW_BLOCK
    if padded != m or not rows.is_contiguous():
        full = rows.new_zeros(padded, rows.shape[1])
        full[:m] = rows
        rows = full
    out = torch.cat([F.linear(rows[i : i + CPU_ROW_BLOCK], weight, bias) for i in range(0, padded, CPU_ROW_BLOCK)])
    return out[:m].view(*x.shape[:-1], weight.shape[0])


def linear_for(triton: bool):
    """The deterministic mode's matrix product: the Triton kernel on the GPU path, blocks on the torch path."""
    if triton:
        from .triton_gemm import linear

        return linear
    return blocked_linear
