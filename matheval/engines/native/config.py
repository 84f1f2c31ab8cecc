"""What the native engine is told: the model's shape (from its config.json) and the engine's knobs.

Both are plain frozen records so that every other module can read them without caring where they came
from (a checkpoint folder, a bare config.json for random-weight benchmarks, or the CLI's options).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from pathlib import Path

from matheval.errors import UserError

# config.json "architectures" / "model_type" -> the family name the model code switches on.
FAMILIES = {
    "LlamaForCausalLM": "llama",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3",
    "llama": "llama",
    "qwen2": "qwen2",
    "qwen3": "qwen3",
}
ROPE_TYPES = ("default", "linear", "llama3")
DEFAULT_SEQS = 256
SMALL_MODEL_SEQS = 1024
SMALL_MODEL_PARAMS = 1_000_000_000


@dataclass(frozen=True)
class ModelConfig:
    """The few numbers a Llama/Qwen2/Qwen3 decoder needs."""

    family: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rms_norm_eps: float
    rope_theta: float
    rope_scaling: dict | None
    max_position_embeddings: int
    tie_word_embeddings: bool
    qkv_bias: bool
    o_bias: bool
    mlp_bias: bool
    qk_norm: bool
    eos_token_ids: tuple[int, ...]

    @classmethod
    def from_dict(cls, raw: dict) -> ModelConfig:
        names = list(raw.get("architectures") or []) + [raw.get("model_type", "")]
        family = next((FAMILIES[n] for n in names if n in FAMILIES), None)
        if family is None:
            raise UserError(
                f"the native engine runs Llama, Qwen2 and Qwen3 models, not {names[0] or 'this model'}: "
                "use --inference_backend transformers or vllm for it"
            )
        if raw.get("use_sliding_window"):
            raise UserError("the native engine has no sliding-window attention: use --inference_backend transformers")
        heads = raw["num_attention_heads"]
        rope = dict(raw.get("rope_parameters") or raw.get("rope_scaling") or {})
        theta = raw.get("rope_theta", rope.get("rope_theta", 10000.0))
        rope_type = rope.get("rope_type", rope.get("type", "default"))
        if rope_type not in ROPE_TYPES:
            raise UserError(f"the native engine does not implement rope type {rope_type!r}: use another backend")
        eos = raw.get("eos_token_id")
        eos_ids = tuple(eos) if isinstance(eos, list) else ((eos,) if eos is not None else ())
        return cls(
            family=family,
            vocab_size=raw["vocab_size"],
            hidden_size=raw["hidden_size"],
            intermediate_size=raw["intermediate_size"],
            num_layers=raw["num_hidden_layers"],
            num_heads=heads,
            num_kv_heads=raw.get("num_key_value_heads") or heads,
            head_dim=raw.get("head_dim") or raw["hidden_size"] // heads,
            rms_norm_eps=raw.get("rms_norm_eps", 1e-6),
            rope_theta=float(theta),
            rope_scaling=rope if rope_type != "default" else None,
            max_position_embeddings=raw.get("max_position_embeddings", 4096),
            tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),
            # Qwen2 always has q/k/v biases; Llama and Qwen3 say so in attention_bias.
            qkv_bias=family == "qwen2" or bool(raw.get("attention_bias", False)),
            o_bias=family != "qwen2" and bool(raw.get("attention_bias", False)),
            mlp_bias=bool(raw.get("mlp_bias", False)),
            qk_norm=family == "qwen3",
            eos_token_ids=eos_ids,
        )

    @property
    def parameters(self) -> int:
        """Weights of the decoder, roughly (matrices only): what sets its step's cost at small batches."""
        q, kv = self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        layer = self.hidden_size * (2 * q + 2 * kv) + 3 * self.hidden_size * self.intermediate_size
        embeddings = self.vocab_size * self.hidden_size * (1 if self.tie_word_embeddings else 2)
        return self.num_layers * layer + embeddings

    @classmethod
    def load(cls, path: str | Path) -> ModelConfig:
        """`path` is a checkpoint folder or a config.json file."""
        path = Path(path)
        file = path / "config.json" if path.is_dir() else path
        if not file.exists():
            raise UserError(f"{file} does not exist: point the native engine at a folder with a config.json")
        return cls.from_dict(json.loads(file.read_text()))


@dataclass(frozen=True)
class EngineConfig:
    """Engine knobs; each can be set through `EngineOptions.extra` under the same name."""

    # Sequences decoded together at most; None: SMALL_MODEL_SEQS on a GPU for a model under SMALL_MODEL_PARAMS
    # parameters (its decode step is bound by launches and weight reads, so four times the rows cost little
    # more), DEFAULT_SEQS otherwise
    max_num_seqs: int | None = None
    max_num_batched_tokens: int = 16384  # prompt tokens prefilled in one step at most
    max_model_len: int | None = None  # prompt + output tokens of one sequence; None: the model's limit
    block_size: int = 16  # tokens per KV-cache block (the unit of prefix sharing)
    kv_cache_fraction: float = 0.9  # share of the free GPU memory (after weights and activations) for KV
    kv_cache_gb: float = 1.0  # KV-cache size on the CPU
    num_kv_blocks: int | None = None  # fixes the KV-cache size outright (tests, benchmarks)
    enforce_eager: bool = False  # no CUDA graphs
    lazy_graphs: bool = True  # capture a decode bucket's CUDA graph when a batch first needs it; False: all at start
    decode_steps: int | None = None  # decode steps run back to back per host round; None: 8 on a GPU, 1 on a CPU
    # Decode rounds a small prefill may wait while a full batch decodes, so that agents' trickling calls
    # are prefilled together (each prefill step costs ~20 ms of host launches whatever its size); 0: never
    prefill_delay_rounds: int = 4
    # Plan and launch each step before reading back the previous one, so the GPU never waits for the
    # host's scheduling and bookkeeping (a sequence that ended wastes one step's share); False: lock-step
    async_scheduling: bool = True
    attention_backend: str = "auto"  # "auto" (triton on GPU, torch on CPU), "triton", "torch"
    fused_kernels: bool = True  # with Triton attention: the Triton norm/RoPE/SiLU kernels; False: torch ops
    # Batch-invariant mode: a request's tokens do not depend on what else is in the batch, on prefix-cache
    # hits or on preemption (fixed-order matrix products and attention; `invariant.py`)
    deterministic: bool = False
    load_format: str = "auto"  # "auto" (safetensors) or "dummy" (random weights from config.json)
    ignore_eos: bool = False  # generate until max_tokens (benchmarks)
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0

    @classmethod
    def from_options(cls, options) -> EngineConfig:
        """Read `EngineOptions`: device/dtype/seed from its fields, the rest from `extra`."""
        import torch

        known = {f.name for f in fields(cls)} - {"device", "dtype", "seed"}
        from ..base import SHARED_EXTRA

        unknown = sorted(set(options.extra) - known - SHARED_EXTRA)
        if unknown:
            raise UserError(f"unknown native-engine option(s) {unknown}: known ones are {sorted(known)}")
        device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise UserError("--device cuda was asked for but torch sees no GPU: use --device cpu")
        dtype = options.dtype or ("bfloat16" if device.startswith("cuda") else "float32")
        dtype = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32", "float": "float32"}.get(
            dtype, dtype
        )
        if dtype not in ("bfloat16", "float16", "float32"):
            raise UserError(f"dtype {dtype!r} is not supported by the native engine: use bfloat16, float16 or float32")
        values = {}
        for f in fields(cls):
            if f.name in options.extra:
                values[f.name] = _coerce(f.name, options.extra[f.name], getattr(cls, f.name))
        config = cls(device=device, dtype=dtype, seed=options.seed, **values)
        if config.attention_backend not in ("auto", "triton", "torch"):
            raise UserError("attention_backend must be auto, triton or torch")
        if config.load_format not in ("auto", "dummy"):
            raise UserError("load_format must be auto or dummy")
        if config.block_size < 1 or (config.max_num_seqs or 1) < 1 or config.max_num_batched_tokens < 1:
            raise UserError("block_size, max_num_seqs and max_num_batched_tokens must be positive")
        if config.deterministic and config.device.startswith("cuda") and config.attention_backend == "torch":
            raise UserError("deterministic mode on a GPU runs on the Triton kernels: drop attention_backend=torch")
        if config.decode_steps is not None and config.decode_steps < 1:
            raise UserError("decode_steps must be at least 1")
        return config

    def with_limits_for(self, model: ModelConfig) -> EngineConfig:
        """The knobs left to the model (None) filled in for it."""
        if self.max_num_seqs is not None:
            return self
        small = self.device.startswith("cuda") and model.parameters < SMALL_MODEL_PARAMS
        return replace(self, max_num_seqs=SMALL_MODEL_SEQS if small else DEFAULT_SEQS)

    @property
    def steps_per_round(self) -> int:
        """Decode steps per host round. On a GPU the host's work per step (scheduling, input arrays, reading
        tokens back) costs about as much as the step itself, so several steps are queued at once, each
        feeding its sampled tokens to the next on the device; a sequence that ends early wastes at most
        the rest of the round. On a CPU there is nothing to overlap."""
        if self.decode_steps is not None:
            return self.decode_steps
        return 8 if self.device.startswith("cuda") else 1


def _coerce(name: str, value, default):
    """Options arrive from the CLI as strings; turn them into the field's type."""
    if default is None:  # optional ints
        return None if value in (None, "", "none", "None") else int(value)
    if isinstance(default, bool):
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes", "on")
        return bool(value)
    try:
        return type(default)(value)
    except (TypeError, ValueError):
        raise UserError(f"native-engine option {name}={value!r} should be a {type(default).__name__}") from None
