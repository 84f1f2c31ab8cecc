"""`--batch_size auto`: how many sequences of a static batch fit on this machine.

On a GPU we measure rather than guess: a dummy batch of full length (prompt plus token budget, with
the whole KV cache allocated up front) is run at 1, 2, 4, ... rows until memory runs out or the cap
is reached, and the largest size that ran is used. Whatever the probe misjudges, the backend's
halve-and-retry on out-of-memory still catches. On a CPU memory is rarely the limit, arithmetic is:
past about 16 rows a small model gains almost nothing (benchmarks/history/2026-11-23.md), so we take 16 when
memory allows and fewer when it does not.
"""

from __future__ import annotations

import os
import sys

import torch

from ..errors import UserError

AUTO_CAP = 256  # largest batch the GPU probe tries
CPU_BATCH = 16  # the CPU choice when memory allows
PROBE_PROMPT_TOKENS = 1024  # a long few-shot prompt; real prompts are usually shorter


def kv_bytes_per_token(config, dtype: torch.dtype) -> int:
    """KV-cache bytes one token costs across all layers (keys and values)."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = getattr(text, "num_key_value_heads", None) or text.num_attention_heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    return 2 * text.num_hidden_layers * heads * head_dim * torch.empty((), dtype=dtype).element_size()


def available_memory_bytes() -> int:
    """Memory this process could still use on the host (psutil when present, else /proc/meminfo)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def cpu_batch_size(config, dtype: torch.dtype, tokens: int, available: int | None = None) -> int:
    """CPU: 16 rows when a quarter of free memory holds their KV cache, otherwise as many as it holds."""
    available = available_memory_bytes() if available is None else available
    per_row = kv_bytes_per_token(config, dtype) * max(1, tokens)
    return max(1, min(CPU_BATCH, int(available * 0.25) // per_row))


@torch.inference_mode()
def probe_batch_size(model, tokens: int, prompt_tokens: int, cap: int = AUTO_CAP) -> int:
    """The largest power-of-two batch (up to cap) whose full-length KV cache and prompt pass fit.

    The cache is a StaticCache of `tokens` positions, allocated whole before the prompt pass, so the
    probe holds what generation will hold at its longest, plus the prompt's activations.
    """
    from transformers import StaticCache

    device = next(model.parameters()).device
    vocab = model.config.get_text_config().vocab_size
    best, size = 0, 1
    while size <= cap:
        cache = ids = None
        try:
            cache = StaticCache(config=model.config, max_cache_len=tokens)
            ids = torch.randint(0, vocab, (size, min(prompt_tokens, tokens)), device=device)
            model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
        except torch.OutOfMemoryError:
            break
        finally:
            del cache, ids
            if device.type == "cuda":
                torch.cuda.empty_cache()
        best, size = size, size * 2
    if best == 0:
        raise UserError(f"out of GPU memory with a single sequence of {tokens} tokens: lower --max_new_tokens, "
                        "use --dtype bfloat16, a smaller model, or a GPU with more memory")
    return best


def auto_batch_size(model, device: str, dtype: torch.dtype, new_tokens: int,
                    prompt_tokens: int = PROBE_PROMPT_TOKENS) -> int:
    """`--batch_size auto` for a loaded transformers model; says what it chose and why."""
    tokens = prompt_tokens + new_tokens
    if str(device).startswith("cuda"):
        size = probe_batch_size(model, tokens, prompt_tokens)
        how = f"largest of 1..{AUTO_CAP} that fit {tokens} tokens per sequence on the GPU"
    else:
        size = cpu_batch_size(model.config, dtype, tokens)
        how = "CPU: throughput stops growing past 16 rows" if size == CPU_BATCH else "CPU: limited by free memory"
    print(f"matheval: --batch_size auto -> {size} ({how})", file=sys.stderr, flush=True)
    return size
