"""Loading a transformers model and tokenizer, shared by the backends that run transformers here.

One place decides the device and dtype defaults (cuda if present, bf16 there, fp32 on the CPU) and turns a
failed download or a wrong id into one line that says what to check.
"""

from __future__ import annotations

import torch

from ..errors import UserError

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16}


def pick_device(requested: str | None) -> str:
    if requested:
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(requested: str | None, device: str) -> torch.dtype:
    if requested:
        if requested not in DTYPES:
            raise UserError(f"unknown --dtype {requested!r}: use one of {', '.join(DTYPES)}")
        return DTYPES[requested]
    return torch.bfloat16 if device.startswith("cuda") else torch.float32


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def load_tokenizer(path: str):
    """Left-padding tokenizer with a pad token (decoder-only batches are padded on the left)."""
    from pathlib import Path

    from transformers import AutoTokenizer

    from .tokenizer_cache import load_tokenizer as load_folder_tokenizer

    try:
        tokenizer = (load_folder_tokenizer(Path(path)) if Path(path).is_dir() else None) or AutoTokenizer.from_pretrained(path)
    except OSError as exc:
        raise UserError(f"could not load the tokenizer of {path!r} ({first_line(exc)}): check the model id, "
                        "your network or HF_TOKEN, or pass a local checkpoint folder") from exc
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(model_path: str, device: str | None, dtype: str | None):
    """The model in eval mode on its device, with its left-padding tokenizer: (model, tokenizer, device, dtype)."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    device = pick_device(device)
    torch_dtype = pick_dtype(dtype, device)
    tokenizer = load_tokenizer(model_path)
    hf_logging.disable_progress_bar()  # our own progress bar is the one that matters
    try:
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch_dtype)
    except OSError as exc:
        raise UserError(f"could not load model {model_path!r} ({first_line(exc)}): check the model id, "
                        "your network or HF_TOKEN, or pass a local checkpoint folder") from exc
    return model.to(device).eval(), tokenizer, device, torch_dtype


def model_eos_ids(model, tokenizer) -> frozenset[int]:
    """The EOS set of a loaded transformers model (engines.stopping: config, generation config, tokenizer)."""
    from .stopping import eos_token_ids

    generation = getattr(model, "generation_config", None)
    return eos_token_ids(model.config.eos_token_id, getattr(generation, "eos_token_id", None), tokenizer=tokenizer)
