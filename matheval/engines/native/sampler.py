"""Next-token choice on the device: greedy, temperature, top-p, reproducible per sample.

Sampling uses the Gumbel-max trick: argmax(logits / T + Gumbel noise) is a draw from softmax(logits / T).
The noise is a counter-based hash of (the sample's key, its output position, the token id), not a shared
random stream, so a seeded request draws the same tokens whatever else shares its batch, and the n
samples of one request differ only through their keys. Integer hashing is done in int64 with explicit
32-bit wrap-around so the CPU and GPU compute the same noise. On a GPU the noise and the argmax run as one
Triton kernel (`triton_fused.gumbel_argmax`): the same hash, logarithms at most a last bit apart.
"""

from __future__ import annotations

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


def top_p_mask(logits: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """Logits with every token outside each row's nucleus (smallest set with mass >= top_p) at -inf."""
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs
    drop = mass_before >= top_p[:, None]  # the top token is never dropped (mass before it is 0)
    sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
    return torch.empty_like(logits).scatter_(-1, order, sorted_logits)


class Sampler:
    """Chooses one token per row; greedy rows are a plain argmax. `fused`: add the noise and take the
    argmax in one Triton kernel (GPU), the same hash, the logarithms maybe a last bit apart."""

    def __init__(self, fused: bool = False):
        self.fused = fused

    def __call__(self, logits: torch.Tensor, seqs, offset: int = 0) -> torch.Tensor:
        """`offset`: steps already taken in this decode round (their tokens are not on the host yet)."""
        tokens = logits.argmax(dim=-1)
        rows = [i for i, s in enumerate(seqs) if not s.greedy]
        if not rows:
            return tokens
        device = logits.device
        picked = [seqs[i] for i in rows]
        index = torch.tensor(rows, device=device)
        temps = torch.tensor([s.params.temperature for s in picked], device=device, dtype=torch.float32)
        scaled = logits[index].float() / temps[:, None]
        top_ps = [s.params.top_p for s in picked]
        if any(p < 1.0 for p in top_ps):
            scaled = top_p_mask(scaled, torch.tensor(top_ps, device=device, dtype=torch.float32))
        keys = torch.tensor([[s.key_a, s.key_b, s.num_output_tokens + offset] for s in picked], device=device)
        if self.fused:
            from .triton_fused import gumbel_argmax

            tokens[index] = gumbel_argmax(scaled, keys)
            return tokens
        noise = gumbel_noise(keys[:, 0], keys[:, 1], keys[:, 2], logits.shape[-1])
        tokens[index] = (scaled + noise).argmax(dim=-1)
        return tokens
