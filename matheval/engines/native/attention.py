"""Attention over the paged KV cache, in two interchangeable backends.

Each layer's cache is a [num_blocks, block_size, kv_heads, head_dim] tensor for K and one for V; a
sequence's tokens live in the blocks its block table lists. In every layer the new tokens' K/V are
written first, for the whole batch (`rope_and_store`), and attention reads everything back from the
cache. That one rule lets a sequence attend to prefix blocks it shares with others, even ones computed
in the same step.

`TorchAttention` gathers each sequence's K/V and calls SDPA, one sequence at a time: slow, simple, and
numerically the same call transformers makes, so it is the CPU path and the reference. `TritonAttention`
runs the paged kernels of `triton_kernels` on the GPU and needs no per-sequence Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AttentionMetadata:
    """Where each token of the step goes and what each sequence sees. Decode steps have one query token
    per sequence; prefill steps have `query_lens` tokens per sequence (the uncached part of its prompt)."""

    is_prefill: bool
    slot_mapping: torch.Tensor  # [tokens] cache slot (block * block_size + offset) of each new token
    context_lens: torch.Tensor  # [seqs] tokens in the cache for each sequence once this step's are written
    block_tables: torch.Tensor  # [seqs, max_blocks] physical blocks of each sequence
    cu_query_lens: torch.Tensor | None = None  # [seqs + 1] prefill: offsets of each sequence's tokens
    max_query_len: int = 1
    query_lens_cpu: list[int] | None = None  # for the per-sequence torch path
    context_lens_cpu: list[int] | None = None


class KVCache:
    """Per-layer K and V block pools; one extra block at the end is scratch for CUDA-graph padding rows."""

    def __init__(self, num_layers, num_blocks, block_size, num_kv_heads, head_dim, dtype, device):
        shape = (num_layers, num_blocks + 1, block_size, num_kv_heads, head_dim)
        self.k = torch.empty(shape, dtype=dtype, device=device)
        self.v = torch.empty(shape, dtype=dtype, device=device)
        self.k[:, num_blocks].zero_()
        self.v[:, num_blocks].zero_()
        self.num_blocks = num_blocks
        self.block_size = block_size
        self.scratch_block = num_blocks

    @staticmethod
    def bytes_per_block(num_layers, block_size, num_kv_heads, head_dim, dtype) -> int:
        return 2 * num_layers * block_size * num_kv_heads * head_dim * torch.empty((), dtype=dtype).element_size()


class _Backend:
    fused = False  # RoPE and the K/V store in one Triton kernel (set by the model runner)
    deterministic = False  # a position's result independent of the batch and of how its context was computed

    def __init__(self, num_heads: int, num_kv_heads: int, head_dim: int):
        self.num_heads, self.num_kv_heads, self.head_dim = num_heads, num_kv_heads, head_dim
        self.scale = head_dim**-0.5
        self.cache: KVCache | None = None

    def rope_and_store(self, layer: int, rotary, positions, q, k, v, meta: AttentionMetadata) -> torch.Tensor:
        """Apply RoPE to q and k, write k and v to the cache slots of this step's tokens; returns q."""
        q, k = rotary(positions, q, k)
        k_cache = self.cache.k[layer].view(-1, self.num_kv_heads, self.head_dim)
        v_cache = self.cache.v[layer].view(-1, self.num_kv_heads, self.head_dim)
        k_cache.index_copy_(0, meta.slot_mapping, k)
        v_cache.index_copy_(0, meta.slot_mapping, v)
        return q


class TorchAttention(_Backend):
    def __call__(self, layer, q, meta: AttentionMetadata) -> torch.Tensor:
        k_cache, v_cache = self.cache.k[layer], self.cache.v[layer]
        bs = self.cache.block_size
        context_lens = meta.context_lens_cpu or meta.context_lens.tolist()
        query_lens = meta.query_lens_cpu if meta.is_prefill else [1] * len(context_lens)
        out = torch.empty_like(q)
        start = 0
        for i, (q_len, ctx_len) in enumerate(zip(query_lens, context_lens)):
            blocks = meta.block_tables[i, : -(-ctx_len // bs)]
            keys = k_cache[blocks].flatten(0, 1)[:ctx_len].transpose(0, 1)  # [kv_heads, ctx, dim]
            values = v_cache[blocks].flatten(0, 1)[:ctx_len].transpose(0, 1)
            query = q[start : start + q_len].transpose(0, 1)  # [heads, q_len, dim]
            if self.deterministic and q_len > 1:
                out[start : start + q_len] = self._per_query(query, keys, values, ctx_len - q_len)
                start += q_len
                continue
            mask = None
            if q_len > 1 and q_len != ctx_len:  # a cached prefix: causal, aligned to the end
                first = ctx_len - q_len
                mask = torch.arange(ctx_len, device=q.device)[None, :] <= first + torch.arange(q_len, device=q.device)[:, None]
            result = F.scaled_dot_product_attention(
                query[None], keys[None], values[None], attn_mask=mask, is_causal=q_len > 1 and mask is None,
                scale=self.scale, enable_gqa=self.num_heads != self.num_kv_heads,
            )  # fmt: skip
            out[start : start + q_len] = result[0].transpose(0, 1)
            start += q_len
        return out

    def _per_query(self, query, keys, values, first: int) -> torch.Tensor:
        """Deterministic prefill: each query alone over the keys up to its position, the very call a decode
        step makes there (SDPA's CPU kernel tiles the keys by their count and sums the queries of one call
        together, so a prefill would otherwise differ from decoding, and a cached prefix from none)."""
        rows = []
        for i in range(query.shape[1]):
            end = first + i + 1
            result = F.scaled_dot_product_attention(
                query[None, :, i : i + 1], keys[None, :, :end], values[None, :, :end], scale=self.scale,
                enable_gqa=self.num_heads != self.num_kv_heads,
            )  # fmt: skip
            rows.append(result[0, :, 0])
        return torch.stack(rows)


class TritonAttention(_Backend):
    # The GPU's multiprocessors: small decode batches split each context between programs so that all of
    # them stream K/V (`triton_kernels.decode_splits`); 0: never split.
    multiprocessors = 0

    def rope_and_store(self, layer: int, rotary, positions, q, k, v, meta: AttentionMetadata) -> torch.Tensor:
        """One fused kernel: q rotated in place, rotated k and v straight into the cache."""
        if not self.fused:
            return super().rope_and_store(layer, rotary, positions, q, k, v, meta)
        from .triton_fused import rope_store

        rope_store(q, k, v, positions, rotary.cos, rotary.sin, self.cache.k[layer], self.cache.v[layer], meta.slot_mapping)
        return q

    def __call__(self, layer, q, meta: AttentionMetadata) -> torch.Tensor:
        from . import triton_kernels, triton_unified

        # deterministic: one kernel whose reduction order is fixed by each query's position (triton_unified)
        kernels = triton_unified if self.deterministic else triton_kernels
        out = torch.empty_like(q)
        k_cache, v_cache = self.cache.k[layer], self.cache.v[layer]
        if meta.is_prefill:
            kernels.paged_prefill(q, k_cache, v_cache, out, meta.block_tables, meta.context_lens,
                                  meta.cu_query_lens, meta.max_query_len, self.scale)  # fmt: skip
        else:
            splits = triton_kernels.decode_splits(q.shape[0], self.num_kv_heads, self.multiprocessors)
            kernels.paged_decode(q, k_cache, v_cache, out, meta.block_tables, meta.context_lens, self.scale, splits)
        return out


def make_backend(name: str, device: str, num_heads: int, num_kv_heads: int, head_dim: int) -> _Backend:
    """'auto' takes Triton on a GPU when it imports, the torch path otherwise."""
    if name == "auto":
        name = "torch"
        if device.startswith("cuda"):
            try:
                import triton  # noqa: F401

                name = "triton"
            except ImportError:
                pass
    cls = TritonAttention if name == "triton" else TorchAttention
    return cls(num_heads, num_kv_heads, head_dim)
