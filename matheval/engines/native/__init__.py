"""`--inference_backend native`: a compact continuous-batching engine on torch and Triton alone.

Layout, one job per module:
  config        model shape (config.json) and engine knobs (EngineOptions.extra)
  sequence      a generated sequence and the request that owns it
  block_manager paged KV-cache blocks, prefix sharing by block hash, reference counts
  scheduler     which sequences prefill or decode in the next step; admission reserve and preemption
  model         the Llama / Qwen2 / Qwen3 decoder and its weight loading
  attention     K/V storage and attention over the paged cache (torch path, Triton path)
  triton_kernels paged decode (split between programs at small batches) and prefill attention kernels
  triton_fused  fused element-wise kernels: add + RMSNorm, RoPE + K/V store, SiLU x up
  triton_sampling the sampler's kernels: top-p edge search and Gumbel-max draw, each row split across programs
  triton_interpret  runs the Triton kernels on the CPU (Triton's interpreter), for the tests
  invariant     the deterministic (batch-invariant) mode: what it changes; the CPU path's blocked products
  triton_gemm   deterministic mode: matrix products with tiles fixed by the weight shape, not the batch
  triton_unified deterministic mode: one attention kernel for prefill and decode, fixed context chunks
  sampler       greedy / temperature / top-p with per-sample reproducible noise
  model_runner  input tensors, memory plan, CUDA graphs (captured per batch bucket on first use), one model step
  startup       start-up time per phase (with Triton's compile time), the tokenizer class kept on disk
  llm_engine    the core loop: plan and launch a step, read the previous one back, finish rules, completions
  engine        NativeEngine: the async Engine interface on a background thread
"""

import time as _time

_started = _time.perf_counter()
from .engine import NativeEngine  # noqa: E402 - timed: torch and the engine's modules
from . import startup as _startup  # noqa: E402

_startup.IMPORTS["seconds"] = _time.perf_counter() - _started


def create(model, options) -> NativeEngine:
    return NativeEngine(model.path, options)


__all__ = ["NativeEngine", "create"]
