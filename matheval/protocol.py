"""The run's protocol checked against the model before anything loads, and what the log should say about it.

- the token cap fits the model's context (config.json's max_position_embeddings, or --max_model_len);
- the preset's template features exist: a thinking switch needs a chat template that reads enable_thinking,
  a prefill needs a chat template at all;
- what the assistant turn holds before the generated text (the prefill, or a "<think>" the template writes);
- the sampling defaults of the model's generation_config.json, when the user gave no sampling flag, are
  named beside the values the run uses (the preset's), so nobody wonders which were taken;
- a dataset of few problems sampled with too few samples gets a warning that says which N would do.

Each reads only local files (the model folder, or the Hugging Face cache); a model not at hand skips the
check it cannot make.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from .engines.chat import THINK_OPEN, opens_reasoning
from .engines.tokens import TokenText, load_tokenizer
from .errors import UserError
from .metrics import Z95
from .models import ModelRef
from .presets import Preset
from .prompts import build_messages

SAMPLING_NOISE_TARGET = 0.03  # worst-case sampling part of a 95% half-width a small set should get below
SMALL_DATASET = 100  # problems: below this, the samples per problem decide how wide an interval is


def model_file(model: ModelRef, name: str) -> Path | None:
    """`name` from the model's folder, or from the local Hugging Face cache for a hub id; None if absent."""
    folder = Path(model.path).expanduser()
    if folder.is_dir():
        path = folder / name
        return path if path.is_file() else None
    if model.hub_id:
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(model.hub_id, name)
        except Exception:  # noqa: BLE001 - no cache, no check
            return None
        return Path(found) if isinstance(found, str) else None
    return None


def read_json(path: Path | None) -> dict:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def context_length(model: ModelRef) -> int | None:
    config = read_json(model_file(model, "config.json"))
    config = config.get("text_config", config)  # multimodal configs keep the language model's inside
    value = config.get("max_position_embeddings")
    return int(value) if isinstance(value, int) and value > 0 else None


def check_cap(model: ModelRef, max_new_tokens: int, max_model_len: int | None = None) -> None:
    """A cap the context cannot hold (with at least one prompt token) is refused, in one line."""
    limits = [(n, what) for n, what in ((context_length(model), f"{model.display}'s context"),
                                        (max_model_len, "--max_model_len")) if n]
    for limit, what in limits:
        if max_new_tokens >= limit:
            raise UserError(f"--max_new_tokens {max_new_tokens} does not fit {what} of {limit} tokens (the prompt "
                            f"needs room too): use --max_new_tokens {limit - limit // 8} or less")


def check_template(preset: Preset, tokenizer, model: ModelRef) -> None:
    """Refuse a preset that needs what the model's chat template lacks."""
    if tokenizer is None:
        return
    template = getattr(tokenizer, "chat_template", None) or ""
    if isinstance(template, dict):
        template = " ".join(template.values())
    if preset.thinking is not None and "enable_thinking" not in template:
        raise UserError(f"preset {preset.name} turns thinking {'on' if preset.thinking else 'off'} with the chat "
                        f"template's enable_thinking switch, which {model.display}'s template lacks: use --preset "
                        "deepseek-r1 or matheval")
    if preset.prefill and not template:
        raise UserError(f"preset {preset.name} starts the response with {preset.prefill!r} inside the model's chat "
                        f"template, and {model.display} has none: use --preset matheval, or --prefill ''")


def response_prefix(preset: Preset, tokenizer, messages: list[dict], template_kwargs: dict) -> str:
    """What the assistant turn holds before the generated text."""
    if preset.prefill:
        return preset.prefill
    if tokenizer is not None and opens_reasoning(tokenizer, messages, template_kwargs):
        return THINK_OPEN + "\n"
    return ""


SAMPLING_KEYS = ("do_sample", "temperature", "top_p", "top_k", "min_p", "repetition_penalty")


def sampling_note(model: ModelRef, generation, given: set[str], preset: Preset) -> str | None:
    """One line naming the model's generation_config.json sampling defaults and the values this run uses
    instead, when the user set no sampling flag (with a flag the choice is the user's, and said)."""
    if given & {"temperature", "top_p", "top_k"}:
        return None
    defaults = read_json(model_file(model, "generation_config.json"))
    found = {key: defaults[key] for key in SAMPLING_KEYS if key in defaults}
    if not found:
        return None
    shown = ", ".join(f"{key}={value}" for key, value in found.items())
    used = f"temperature={generation.temperature}, top_p={generation.top_p}, top_k={generation.top_k}"
    extra = " (repetition_penalty and min_p are not applied)" if {"repetition_penalty", "min_p"} & set(found) else ""
    return (f"{model.display}'s generation_config.json suggests {shown}; this run uses preset {preset.name}'s "
            f"{used}{extra}: set --temperature/--top_p/--top_k to use others")


def samples_for(problems: int, target: float = SAMPLING_NOISE_TARGET) -> int:
    """Samples per problem that bring the worst-case sampling part of the 95% half-width of avg@N,
    Z95 * sqrt(1 / (4 * P * N)), under `target`: a power of two."""
    needed = Z95 * Z95 / (4 * problems * target * target)
    return 1 << max(0, math.ceil(math.log2(max(1.0, needed))))


def few_problems_warning(dataset: str, problems: int, num_samples: int, temperature: float) -> str | None:
    """A sampled run on a small set whose interval would be decided by sampling noise (greedy runs draw the
    same answer every time: no sampling noise to speak of)."""
    if problems >= SMALL_DATASET or temperature <= 0:
        return None
    needed = samples_for(problems)
    if num_samples >= needed:
        return None
    noise = Z95 * math.sqrt(1 / (4 * problems * num_samples))
    return (f"{dataset} has {problems} problems: with --num_samples {num_samples}, sampling noise alone can move "
            f"avg@{num_samples} by up to ±{noise:.1%} (95%); --num_samples {needed} brings that under "
            f"±{SAMPLING_NOISE_TARGET:.0%} (docs/reasoning.md)")


@dataclass
class ProtocolCheck:
    """What the checks leave for the run: the tokenizer's counter (None when no tokenizer is at hand), the
    chat template's keyword arguments, and the lines the log and the terminal should show."""

    tokens: TokenText | None
    template_kwargs: dict
    notes: list[str] = field(default_factory=list)


def check_protocol(model: ModelRef, params, problems: list, dataset: str, agent: str, engine_extra: dict,
            sampling_flags: set[str], pass_k: tuple[int, ...] | None) -> ProtocolCheck:
    """Check the run's protocol against the model (UserError before anything is written) and set what the
    assistant turn holds before the generated text (params.response_prefix)."""
    preset, generation = params.preset, params.generation
    width = params.num_samples if agent == "standard" else params.num_runs
    for k in pass_k or ():
        if not 0 < k <= width:
            raise UserError(f"--pass_k {k} needs at least {k} samples per problem; this run draws {width}: "
                            f"use k from 1 to {width}, or more samples")
    check_cap(model, generation.max_new_tokens, engine_extra.get("max_model_len"))
    needs_tokenizer = agent == "standard" or preset.thinking is not None or preset.prefill
    tokenizer = load_tokenizer(model.path) if needs_tokenizer else None
    check_template(preset, tokenizer, model)
    template_kwargs = {} if preset.thinking is None else {"enable_thinking": preset.thinking}
    probe = build_messages(problems[0], params.mode, params.examples, preset)
    params.response_prefix = response_prefix(preset, tokenizer, probe, template_kwargs)
    prepared = ProtocolCheck(TokenText(tokenizer) if tokenizer is not None else None, template_kwargs)
    if params.budgets and prepared.tokens is None:
        raise UserError(f"the budget curve cuts responses at token budgets, which needs {model.display}'s tokenizer "
                        "here: make the model available locally, or use --budgets off")
    prepared.notes.append(describe_protocol(params))
    if agent == "standard" and params.num_samples > 1 and generation.temperature <= 0:
        prepared.notes.append(f"--num_samples {params.num_samples} at temperature 0 draws {params.num_samples} "
                              "identical greedy answers: give --temperature (e.g. 0.6) to sample")
    for note in (sampling_note(model, generation, sampling_flags, preset),
                 few_problems_warning(dataset, len(problems), width, generation.temperature)):
        if note:
            prepared.notes.append(note)
    return prepared


def describe_protocol(params) -> str:
    preset, generation = params.preset, params.generation
    parts = [f"preset {preset.name}", f"temperature {generation.temperature}", f"top_p {generation.top_p}",
             f"top_k {generation.top_k}", f"max_new_tokens {generation.max_new_tokens}"]
    if preset.system:
        parts.append(f"system prompt {preset.system!r}")
    if params.response_prefix:
        parts.append(f"response starts with {params.response_prefix!r}")
    if preset.thinking is not None:
        parts.append(f"enable_thinking={preset.thinking}")
    if params.num_samples > 1:
        parts.append(f"{params.num_samples} samples per problem")
    if params.budgets:
        parts.append(f"budget curve at {', '.join(map(str, params.budgets))} tokens")
    return "protocol: " + ", ".join(parts)
