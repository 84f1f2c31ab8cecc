"""The decoder: Llama, Qwen2 (q/k/v biases) and Qwen3 (q/k RMSNorm) in one module tree.

Tokens of all sequences in a step are flattened into one [tokens, hidden] batch; only attention needs
to know which token belongs to which sequence, and it gets that from `AttentionMetadata`. The arithmetic
follows transformers' reference implementation step for step (fp32 RMSNorm, rotate-half RoPE in the
activation dtype) so that greedy outputs match it. q/k/v and gate/up projections are fused into one
matrix each: one weight read instead of three (two) per step.

Layers pass the residual stream beside the hidden states (as vLLM does), so that the residual add and the
next RMSNorm are one step. With `fused=True` (the GPU, Triton attention) that step, RoPE with the K/V
store, and SiLU x up run as the Triton kernels of `triton_fused`; the torch code here is the reference.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float, fused: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps
        self.fused = fused

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None):
        """(RMSNorm(x + residual), x + residual); without a residual, (RMSNorm(x), x)."""
        if self.fused:
            from .triton_fused import add_rms_norm

            return add_rms_norm(x, self.weight, self.eps, residual)
        if residual is not None:
            x = x + residual
        dtype = x.dtype
        normed = x.float()
        normed = normed * torch.rsqrt(normed.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * normed.to(dtype), x


def inverse_frequencies(config: ModelConfig) -> torch.Tensor:
    """RoPE frequencies, with Llama 3's long-context rescaling or linear scaling when configured."""
    dim = config.head_dim
    inv_freq = 1.0 / (config.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))
    scaling = config.rope_scaling or {}
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind == "linear":
        inv_freq = inv_freq / scaling["factor"]
    elif kind == "llama3":
        factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
        original = scaling["original_max_position_embeddings"]
        wavelength = 2 * math.pi / inv_freq
        # Long wavelengths are slowed by `factor`, short ones kept, the band between interpolated.
        blend = ((original / wavelength - low) / (high - low)).clamp(0, 1)
        inv_freq = (1 - blend) * inv_freq / factor + blend * inv_freq
    return inv_freq


class Projection(nn.Linear):
    """nn.Linear whose product can be swapped for a batch-invariant one (`CausalLM.use_invariant_products`)."""

    product = None  # (x, weight, bias) -> x @ weight.T + bias; None: F.linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.product is None:
            return F.linear(x, self.weight, self.bias)
        return self.product(x, self.weight, self.bias)


class Rotary(nn.Module):
    """cos/sin for every position, computed once in fp32 (position * frequency, as transformers does)."""

    def __init__(self, config: ModelConfig, max_positions: int):
        super().__init__()
        self.model_config, self.max_positions = config, max_positions
        self.register_buffer("cos", torch.empty(0), persistent=False)
        self.register_buffer("sin", torch.empty(0), persistent=False)

    def fill(self, device) -> None:
        freqs = torch.arange(self.max_positions, dtype=torch.float)[:, None] * inverse_frequencies(self.model_config)
        angles = torch.cat((freqs, freqs), dim=-1)
        self.cos, self.sin = angles.cos().to(device), angles.sin().to(device)

    def forward(self, positions: torch.Tensor, q: torch.Tensor, k: torch.Tensor):
        cos = self.cos[positions].unsqueeze(1).to(q.dtype)  # [tokens, 1, head_dim]
        sin = self.sin[positions].unsqueeze(1).to(q.dtype)
        return q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class SelfAttention(nn.Module):
    def __init__(self, config: ModelConfig, layer: int, rotary: Rotary, attention):
        super().__init__()
        self.layer = layer
        self.num_heads, self.num_kv_heads, self.head_dim = config.num_heads, config.num_kv_heads, config.head_dim
        self.q_size = self.num_heads * self.head_dim
        self.kv_size = self.num_kv_heads * self.head_dim
        self.qkv_proj = Projection(config.hidden_size, self.q_size + 2 * self.kv_size, bias=config.qkv_bias)
        self.o_proj = Projection(self.q_size, config.hidden_size, bias=config.o_bias)
        if config.qk_norm:
            self.q_norm = RMSNorm(self.head_dim, config.rms_norm_eps)
            self.k_norm = RMSNorm(self.head_dim, config.rms_norm_eps)
        self.qk_norm = config.qk_norm
        self.rotary = rotary
        self.attention = attention  # the backend: stores K/V in the paged cache and attends over it

    def forward(self, x: torch.Tensor, positions: torch.Tensor, meta) -> torch.Tensor:
        tokens = x.shape[0]
        q, k, v = self.qkv_proj(x).split([self.q_size, self.kv_size, self.kv_size], dim=-1)
        q = q.view(tokens, self.num_heads, self.head_dim)
        k = k.view(tokens, self.num_kv_heads, self.head_dim)
        v = v.view(tokens, self.num_kv_heads, self.head_dim)
        if self.qk_norm:
            q, k = self.q_norm(q)[0], self.k_norm(k)[0]
        q = self.attention.rope_and_store(self.layer, self.rotary, positions, q, k, v, meta)
        out = self.attention(self.layer, q, meta)  # [tokens, heads, head_dim]
        return self.o_proj(out.reshape(tokens, self.q_size))


class MLP(nn.Module):
    def __init__(self, config: ModelConfig, fused: bool):
        super().__init__()
        self.intermediate = config.intermediate_size
        self.gate_up_proj = Projection(config.hidden_size, 2 * self.intermediate, bias=config.mlp_bias)
        self.down_proj = Projection(self.intermediate, config.hidden_size, bias=config.mlp_bias)
        self.fused = fused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate_up = self.gate_up_proj(x)
        if self.fused:
            from .triton_fused import silu_mul

            return self.down_proj(silu_mul(gate_up))
        gate, up = gate_up.split(self.intermediate, dim=-1)
        return self.down_proj(F.silu(gate) * up)


class DecoderLayer(nn.Module):
    def __init__(self, config: ModelConfig, layer: int, rotary: Rotary, attention, fused: bool):
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps, fused)
        self.self_attn = SelfAttention(config, layer, rotary, attention)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps, fused)
        self.mlp = MLP(config, fused)

    def forward(self, h: torch.Tensor, residual: torch.Tensor | None, positions: torch.Tensor, meta):
        """Returns this layer's output and the residual stream before it (added by the next norm)."""
        x, residual = self.input_layernorm(h, residual)
        x, residual = self.post_attention_layernorm(self.self_attn(x, positions, meta), residual)
        return self.mlp(x), residual


class CausalLM(nn.Module):
    def __init__(self, config: ModelConfig, attention, max_positions: int, fused: bool = False):
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.rotary = Rotary(config, max_positions)
        self.layers = nn.ModuleList(DecoderLayer(config, i, self.rotary, attention, fused) for i in range(config.num_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps, fused)
        self.lm_head = Projection(config.hidden_size, config.vocab_size, bias=False)
        self.tie_weights()

    def use_invariant_products(self, product, fused_qk_norms: bool) -> None:
        """Deterministic mode: every projection through `product` (invariant.linear_for), and Qwen3's q/k
        norms through the Triton row kernel when the others are (torch's reductions choose their
        strategy by the number of rows)."""
        for module in self.modules():
            if isinstance(module, Projection):
                module.product = product
            elif isinstance(module, SelfAttention) and module.qk_norm:
                module.q_norm.fused = module.k_norm.fused = fused_qk_norms

    def tie_weights(self) -> None:
        """Tied models read logits through the embedding matrix (to be redone after `to_empty`)."""
        if self.config.tie_word_embeddings:
            self.lm_head.weight = self.embed_tokens.weight

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, meta) -> torch.Tensor:
        """Final hidden states of every input token."""
        h, residual = self.embed_tokens(input_ids), None
        for layer in self.layers:
            h, residual = layer(h, residual, positions, meta)
        return self.norm(h, residual)[0]

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """In the model's dtype: greedy argmax needs no fp32 copy of a [batch, vocab] matrix."""
        return self.lm_head(hidden)


# -- weights ----------------------------------------------------------------------------------------------
# checkpoint name fragment -> (our parameter name fragment, which slice of the fused matrix)
FUSED = {
    "q_proj": ("qkv_proj", 0),
    "k_proj": ("qkv_proj", 1),
    "v_proj": ("qkv_proj", 2),
    "gate_proj": ("gate_up_proj", 0),
    "up_proj": ("gate_up_proj", 1),
}


def load_weights(model: CausalLM, named_tensors) -> None:
    """Copy checkpoint tensors (transformers names) into the model, filling fused matrices slice by slice.
    Parameters keep their storage, so captured CUDA graphs stay valid."""
    params = dict(model.named_parameters(remove_duplicate=False))
    config = model.config
    q, kv = config.num_heads * config.head_dim, config.num_kv_heads * config.head_dim
    offsets = {"qkv_proj": [0, q, q + kv], "gate_up_proj": [0, config.intermediate_size]}
    seen: set[str] = set()
    for name, tensor in named_tensors:
        name = name.removeprefix("model.")
        if "rotary_emb" in name:
            continue
        if name == "lm_head.weight" and config.tie_word_embeddings:
            continue
        target, start = name, None
        for piece, (fused, slot) in FUSED.items():
            if f".{piece}." in name:
                target = name.replace(piece, fused)
                start = offsets[fused][slot]
                break
        if target not in params:
            raise KeyError(f"checkpoint tensor {name} has no place in the native {config.family} model")
        param = params[target]
        with torch.no_grad():
            view = param if start is None else param.narrow(0, start, tensor.shape[0])
            view.copy_(tensor.to(param.dtype))
        seen.add(name)
    expected = {n for n in params if not (n == "lm_head.weight" and config.tie_word_embeddings)}
    missing = expected - {_fused_name(n) for n in seen}
    if missing:
        raise KeyError(f"checkpoint lacks {sorted(missing)[:4]}...")


def _fused_name(name: str) -> str:
    for piece, (fused, _) in FUSED.items():
        name = name.replace(f".{piece}.", f".{fused}.")
    return name


def init_dummy(model: CausalLM, seed: int) -> None:
    """Random weights for benchmarks: N(0, 0.02) matrices, unit norms, zero biases, so that
    activations stay finite through any depth; the tokens are garbage, the work is real."""
    generator = torch.Generator(device=model.embed_tokens.weight.device).manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.fill_(1.0)
            elif name.endswith(".bias"):
                param.zero_()
            else:
                param.normal_(0.0, 0.02, generator=generator)
