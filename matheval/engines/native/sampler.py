"""Next-token choice on the device: greedy, temperature, top-p, reproducible per sample.

Sampling uses the Gumbel-max trick: argmax(logits / T + Gumbel noise) is a draw from softmax(logits / T).
The noise is a counter-based hash of (the sample's key, its output position, the token id), not a shared
random stream, so a seeded request draws the same tokens whatever else shares its batch, and the n
samples of one request differ only through their keys. Integer hashing is done in int64 with explicit
32-bit wrap-around so the CPU and GPU compute the same noise. On a GPU the noise and the argmax run in
Triton (`triton_sampling.gumbel_argmax`): the same hash, logarithms at most a last bit apart.

Top-k (before top-p, as in vLLM) keeps every token at least as likely as the row's k-th (`top_k_mask`, a
torch top-k on the device; on the fused path it masks a copy of the sampled rows' logits, which the kernels
then read as before). Top-p keeps every token at least as likely as the nucleus edge (see `top_p_threshold`). The CPU finds the
edge with a sort; the GPU searches for the same value in five passes over the row's 16-bit logits
(`triton_sampling.top_p_edge`) instead of sorting a [rows, vocab] fp32 matrix (4.2 ms for 256 rows of a
152k vocabulary on an H100; the search takes 0.57 ms on an H200). Its sums run in another order than the
sort's cumsum, so in about 1 row in 700 (random logits, H200) the two put the edge at neighbouring values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

MASK32 = 0xFFFFFFFF


def mix32(x):
    """A 32-bit integer finalizer (xorshift-multiply, "lowbias32" constants): every input bit
    affects every output bit. Works on Python ints and int64 tensors alike."""
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & MASK32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & MASK32
    return x ^ (x >> 16)


def sample_keys(seed: int, index: int) -> tuple[int, int]:
    """Two 32-bit keys for sample `index` of a request seeded with `seed`."""
    lo, hi = seed & MASK32, (seed >> 32) & MASK32
    a = mix32(lo ^ mix32(hi ^ mix32(index + 0x9E3779B9)))
    b = mix32(a ^ 0x85EBCA6B ^ mix32(index * 2 + 1))
    return a, b


def gumbel_noise(key_a: torch.Tensor, key_b: torch.Tensor, steps: torch.Tensor, vocab: int) -> torch.Tensor:
    """[rows, vocab] standard Gumbel noise; row r depends only on (key_a[r], key_b[r], steps[r])."""
    row_a = mix32(key_a ^ mix32(steps & MASK32))[:, None]
    row_b = mix32(key_b ^ mix32((steps + 0x632BE5AB) & MASK32))[:, None]
    tokens = torch.arange(vocab, device=steps.device, dtype=torch.int64)[None, :]
    bits = mix32(mix32(tokens ^ row_a) ^ row_b)
    uniform = ((bits >> 9).float() + 0.5) / float(1 << 23)  # 23 bits: exact in fp32, strictly inside (0, 1)
    return -torch.log(-torch.log(uniform))


def top_p_threshold(scaled: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """Each row's nucleus edge: the value of the least likely token that the smallest set with mass
    >= top_p needs (sorted, so the top token's mass before it is 0 and it is always kept). top_p >= 1
    keeps everything (-inf): a float cumsum can reach 1 before the last tokens and drop them."""
    sorted_values = scaled.sort(dim=-1, descending=True).values
    probs = sorted_values.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs
    last = (mass_before < top_p[:, None]).sum(dim=-1, keepdim=True) - 1
    edge = sorted_values.gather(-1, last).squeeze(-1)
    return edge.masked_fill(top_p >= 1.0, float("-inf"))


def top_k_mask(values: torch.Tensor, top_k: torch.Tensor, largest_k: int) -> torch.Tensor:
    """-inf below each row's k-th largest value (rows with top_k 0 keep everything; ties with the k-th
    are kept, as top-p keeps ties with its edge). `largest_k`: the largest k, known on the host."""
    largest_k = min(largest_k, values.shape[-1])
    kth = values.topk(largest_k, dim=-1).values.gather(-1, (top_k.clamp(1, largest_k) - 1)[:, None])
    return values.masked_fill((values < kth) & (top_k[:, None] > 0), float("-inf"))


def top_p_mask(scaled: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """-inf outside each row's nucleus: every token at least as likely as the nucleus edge (tokens tied
    with the edge are all kept, so the set does not depend on how a sort orders ties)."""
    return scaled.masked_fill(scaled < top_p_threshold(scaled, top_p)[:, None], float("-inf"))


@dataclass
class SampledRows:
    """The rows of a batch that sample, as device tensors built once per decode round: building them
    from Python lists at every step would synchronise the host with the GPU four times a step."""

    index: torch.Tensor  # [k] int64 row numbers
    keys: torch.Tensor  # [k, 3] int64: key_a, key_b, output position at the round's first step
    inv_temperatures: torch.Tensor  # [k] fp32, 1/T rounded once (the CPU and GPU scale with the same bits)
    top_p: torch.Tensor | None  # [k] fp32, None when no row filters
    every_row: bool = False  # every row of the batch samples: no greedy argmax to fill in
    top_k: torch.Tensor | None = None  # [k] int64 (0: off), None when no row keeps only its top k
    largest_k: int = 0


def to_device(array: np.ndarray, device) -> torch.Tensor:
    """Host array -> device without waiting for the GPU: a copy from pageable memory may synchronise with
    the stream, so on a GPU the array goes through pinned memory (torch's caching host allocator keeps
    that buffer until the copy has run)."""
    tensor = torch.from_numpy(array)
    if torch.device(device).type == "cuda":
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


class Sampler:
    """Chooses one token per row; greedy rows are a plain argmax. `fused` (GPU, 16-bit logits): the
    nucleus edge is found by a Triton search instead of a full-vocabulary sort, and the noise and argmax
    run in Triton too, both reading the logits in place; the same hash, logarithms maybe a last bit
    apart."""

    def __init__(self, fused: bool = False):
        self.fused = fused

    def rows(self, seqs, device) -> SampledRows | None:
        """The sampling rows of `seqs`, sent to the device in two copies that do not wait for the GPU."""
        picked = [(i, s) for i, s in enumerate(seqs) if not s.greedy]
        if not picked:
            return None
        ints = np.array([[i, s.key_a, s.key_b, s.num_output_tokens] for i, s in picked], dtype=np.int64)
        temperatures = np.array([s.params.temperature for _, s in picked], dtype=np.float32)
        floats = np.stack([np.float32(1.0) / temperatures, [s.params.top_p for _, s in picked]], axis=1)
        ints_d, floats_d = (to_device(a, device) for a in (ints, floats.astype(np.float32)))
        filters = bool((floats[:, 1] < 1.0).any())
        picked_rows = SampledRows(ints_d[:, 0].contiguous(), ints_d[:, 1:].contiguous(), floats_d[:, 0].contiguous(),
                                  floats_d[:, 1].contiguous() if filters else None, len(picked) == len(seqs))  # fmt: skip
        top_k = np.array([s.params.top_k for _, s in picked], dtype=np.int64)
        if top_k.any():
            picked_rows.top_k, picked_rows.largest_k = to_device(top_k, device), int(top_k.max())
        return picked_rows

    def __call__(self, logits: torch.Tensor, rows: SampledRows | None, offset: int = 0) -> torch.Tensor:
        """`offset`: steps already taken in this decode round (their tokens are not on the host yet)."""
        if rows is None:
            return logits.argmax(dim=-1)
        if rows.top_k is not None:  # a masked copy: the greedy rows' argmax below reads it unchanged
            logits = logits.index_put((rows.index,), top_k_mask(logits[rows.index], rows.top_k, rows.largest_k))
        if self.fused and logits.element_size() == 2:
            from .triton_sampling import gumbel_argmax, top_p_edge

            edge = None if rows.top_p is None else top_p_edge(logits, rows.index, rows.inv_temperatures, rows.top_p)
            drawn = gumbel_argmax(logits, rows.index, rows.inv_temperatures, rows.keys, offset, edge)
        else:
            scaled = logits[rows.index].float() * rows.inv_temperatures[:, None]
            if rows.top_p is not None:
                scaled = top_p_mask(scaled, rows.top_p)
            keys = rows.keys
            noise = gumbel_noise(keys[:, 0], keys[:, 1], keys[:, 2] + offset, logits.shape[-1])
            drawn = (scaled + noise).argmax(dim=-1)
        if rows.every_row:
            return drawn
        tokens = logits.argmax(dim=-1)
        tokens[rows.index] = drawn
        return tokens
