"""The floor every measured number is compared with: how fast the GPU could possibly do the workload.

Decode is memory-bound: each decode step reads the weights once, and each running sequence reads its
own KV cache. So for a workload of sequences (prompt p_i tokens, output o_i tokens), as the H100 anchors
do (benchmarks/RESULTS.md, "Anchors"):

    weight bytes  = steps x W            W = bytes of the weights a step reads (all of them, except an
                                           untied input embedding, of which a step reads one row)
    KV bytes      = sum_i kv x (p_i o_i + o_i (o_i - 1) / 2)
                                         kv = layers x 2 (K, V) x kv_heads x head_dim x bytes per value
    steps         = max(longest o_i, ceil(sum o_i / M))     M = 256 sequences decoded together at most
    memory floor  = (weight bytes + KV bytes) / measured copy bandwidth

and, to be complete, the arithmetic of every token (prompt and output) at the measured matmul rate:

    FLOPs/token   = 2 x (matmul parameters) + 4 x layers x heads x head_dim x context
                    (matmul parameters: the layers' matrices, plus the lm_head for output tokens only)
    compute floor = sum of FLOPs / measured matmul rate

The floor is the larger of the two; "% of floor" is measured output tok/s over floor output tok/s.
With the anchors' numbers (Qwen2.5-1.5B, 3.0 TB/s) the `throughput` workload's floor is about 63-68k tok/s.
This is the one floor formula: `matheval bench` and benchmarks/native_throughput.py both use it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

MAX_RUNNING = 256  # sequences decoded together at most (the engines' and the anchors' batch limit)


@dataclass(frozen=True)
class ModelShape:
    """The numbers of a Llama/Qwen2/Qwen3-style decoder that set its bytes and FLOPs."""

    vocab: int
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    tied: bool
    qkv_bias: bool
    qk_norm: bool

    @classmethod
    def from_config(cls, raw: dict) -> ModelShape:
        heads = raw["num_attention_heads"]
        model_type = raw.get("model_type", "")
        return cls(
            vocab=raw["vocab_size"],
            hidden=raw["hidden_size"],
            intermediate=raw["intermediate_size"],
            layers=raw["num_hidden_layers"],
            heads=heads,
            kv_heads=raw.get("num_key_value_heads") or heads,
            head_dim=raw.get("head_dim") or raw["hidden_size"] // heads,
            tied=bool(raw.get("tie_word_embeddings", False)),
            qkv_bias=model_type == "qwen2" or bool(raw.get("attention_bias", False)),
            qk_norm=model_type == "qwen3",
        )

    @classmethod
    def load(cls, path: str | Path) -> ModelShape:
        path = Path(path)
        return cls.from_config(json.loads((path / "config.json" if path.is_dir() else path).read_text()))

    # -- parameters ---------------------------------------------------------------------------------------
    @property
    def layer_params(self) -> int:
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        attention = self.hidden * q + 2 * self.hidden * kv + q * self.hidden
        if self.qkv_bias:
            attention += q + 2 * kv
        norms = 2 * self.hidden + (2 * self.head_dim if self.qk_norm else 0)
        return attention + 3 * self.hidden * self.intermediate + norms

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden

    @property
    def params(self) -> int:
        """All parameters, as the checkpoint holds them (a tied lm_head is the embedding)."""
        lm_head = 0 if self.tied else self.embedding_params
        return self.embedding_params + self.layers * self.layer_params + self.hidden + lm_head

    @property
    def params_read_per_step(self) -> int:
        """Parameters a decode step reads: all of them, except an untied input embedding (one row each)."""
        return self.params - (0 if self.tied else self.embedding_params)

    @property
    def matmul_params(self) -> int:
        """Parameters that multiply each token's activations: the layers' matrices and the lm_head."""
        return self.layers * self.layer_params + self.embedding_params

    def kv_bytes_per_token(self, bytes_per_value: int) -> int:
        return self.layers * 2 * self.kv_heads * self.head_dim * bytes_per_value

    def flops_per_token(self, context: float, head: bool = True) -> float:
        """Forward FLOPs of one token that attends to `context` tokens (`head`: through the lm_head too,
        which a prompt token other than the last skips)."""
        params = self.matmul_params - (0 if head else self.embedding_params)
        return 2.0 * params + 4.0 * self.layers * self.heads * self.head_dim * context


@dataclass(frozen=True)
class Ceilings:
    """What the device can do at best, measured at the start of a run (see monitor.measure_ceilings)."""

    copy_bytes_per_s: float  # device-to-device copy, bytes read plus bytes written
    matmul_flops_per_s: float  # a large matrix product in the model's dtype


def workload_floor(shape: ModelShape, prompt_lens: list[int], output_lens: list[int], bytes_per_value: int,
                   ceilings: Ceilings, max_running: int = MAX_RUNNING) -> dict:
    """The floor of a workload given as per-sequence (prompt, output) lengths; see the module docstring."""
    if not output_lens:
        return {}
    kv = shape.kv_bytes_per_token(bytes_per_value)
    weights = shape.params_read_per_step * bytes_per_value
    total_out = sum(output_lens)
    steps = max(max(output_lens), math.ceil(total_out / max_running))
    kv_bytes = sum(kv * (p * o + o * (o - 1) // 2) for p, o in zip(prompt_lens, output_lens))
    weight_bytes = steps * weights
    memory_s = (weight_bytes + kv_bytes) / ceilings.copy_bytes_per_s
    # prompt tokens attend to half their prompt on average and skip the lm_head; output tokens attend to
    # the prompt + half their output and each comes out of the lm_head
    flops = sum(p * shape.flops_per_token(p / 2, head=False) + o * shape.flops_per_token(p + o / 2)
                for p, o in zip(prompt_lens, output_lens))
    compute_s = flops / ceilings.matmul_flops_per_s
    floor_s = max(memory_s, compute_s)
    tokens = sum(prompt_lens) + total_out
    mean_context = sum(p + o / 2 for p, o in zip(prompt_lens, output_lens)) / len(output_lens)
    return {
        "output_tokens": total_out,
        "prompt_tokens": sum(prompt_lens),
        "decode_steps": steps,
        "weight_bytes_per_step": weights,
        "kv_bytes_per_token": kv,
        "kv_bytes_per_step": round(kv_bytes / steps),
        "weight_TB": round(weight_bytes / 1e12, 4),
        "kv_TB": round(kv_bytes / 1e12, 4),
        "flops_per_token": round(flops / tokens),
        "flops_per_token_at_mean_context": round(shape.flops_per_token(mean_context)),
        "total_PFLOP": round(flops / 1e15, 4),
        "memory_floor_s": round(memory_s, 6),
        "compute_floor_s": round(compute_s, 6),
        "floor_s": round(floor_s, 6),
        "bound": "memory" if memory_s >= compute_s else "compute",
        "floor_tok_s": round(total_out / floor_s, 1),
    }


def shape_summary(shape: ModelShape, bytes_per_value: int) -> dict:
    return {**asdict(shape), "params": shape.params, "weight_GB": round(shape.params * bytes_per_value / 1e9, 3),
            "weight_bytes_read_per_step": shape.params_read_per_step * bytes_per_value,
            "kv_bytes_per_token": shape.kv_bytes_per_token(bytes_per_value), "bytes_per_value": bytes_per_value}
