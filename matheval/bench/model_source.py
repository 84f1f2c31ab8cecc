"""One checkpoint folder that every engine under test loads through its ordinary path.

`--dummy_config X.json` builds a model of that shape with random weights (seeded, in the run's dtype)
and saves it with the benchmark tokenizer, as vLLM's benchmarks do with dummy weights; `--model` links
the files of a real local checkpoint. Either way the folder's generation_config.json suppresses every
EOS token (and the pad token, so that padding is never mistaken for output), so `generate` runs each
sequence to exactly its token budget; the native engine gets `ignore_eos` instead. Every engine then
does the same work, whatever the weights say.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import UserError
from .roofline import ModelShape


@dataclass
class ModelSource:
    folder: Path
    display: str
    shape: ModelShape
    dummy: bool
    tokenizer: object
    eos_ids: list[int]
    work_dir: Path

    def cleanup(self) -> None:
        shutil.rmtree(self.work_dir, ignore_errors=True)


def load_bench_tokenizer(path: str | None):
    """The tokenizer prompts are rendered with: --tokenizer, else the packaged SmolLM2's."""
    from transformers import AutoTokenizer

    if path is None:
        from ..models import DEFAULT_MODEL, resolve

        path = resolve(DEFAULT_MODEL).path
    try:
        return AutoTokenizer.from_pretrained(path)
    except OSError as exc:
        raise UserError(f"could not load a tokenizer from {path!r}: pass --tokenizer with a folder holding "
                        "tokenizer.json (run_gpu.sh prepare copies SmolLM2's)") from exc


def prepare_model(model: str | None, dummy_config: str | None, tokenizer_path: str | None, device: str,
                  dtype: torch.dtype, seed: int, work_dir: str | None = None) -> ModelSource:
    if (model is None) == (dummy_config is None):
        raise UserError("give exactly one of --model (a local checkpoint) or --dummy_config (a config.json)")
    work = Path(tempfile.mkdtemp(prefix="matheval-bench-", dir=work_dir))
    folder = work / "model"
    try:
        if dummy_config is not None:
            tokenizer = load_bench_tokenizer(tokenizer_path)
            source = _dummy(Path(dummy_config), tokenizer, folder, device, dtype, seed)
        else:
            source = _linked(model, folder)  # a real model brings its own tokenizer
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    # Prompts are rendered with the tokenizer exactly as the engines load it from the folder (with a
    # model config beside it, AutoTokenizer may choose the model family's tokenizer class).
    source.tokenizer = load_bench_tokenizer(str(folder))
    source.work_dir = work
    return source


def _eos_ids(*values) -> list[int]:
    ids = set()
    for value in values:
        if isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
        elif value is not None:
            ids.add(int(value))
    return sorted(ids)


def _dummy(config_path: Path, tokenizer, folder: Path, device: str, dtype: torch.dtype, seed: int) -> ModelSource:
    from transformers import AutoConfig, AutoModelForCausalLM

    if not config_path.is_file():
        raise UserError(f"--dummy_config {config_path} is not a file: point it at a config.json "
                        "(e.g. benchmarks/configs/qwen2.5-1.5b.json)")
    raw = json.loads(config_path.read_text())
    if raw.get("vocab_size", 0) < len(tokenizer):
        raise UserError(f"{config_path.name} has a vocabulary of {raw.get('vocab_size')} tokens, smaller than the "
                        f"benchmark tokenizer's {len(tokenizer)}: use a larger config or another --tokenizer")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    config = AutoConfig.from_pretrained(str(config_path))
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    eos = _eos_ids(raw.get("eos_token_id"), tokenizer.eos_token_id, tokenizer.pad_token_id)
    model.generation_config.eos_token_id = eos
    model.generation_config.suppress_tokens = eos
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return ModelSource(folder, config_path.stem + " (random weights)", ModelShape.from_config(raw), True, tokenizer,
                       eos, folder.parent)


def _linked(model: str, folder: Path) -> ModelSource:
    from ..models import resolve

    ref = resolve(model)
    original = Path(ref.path)
    if not original.is_dir():
        raise UserError(f"matheval bench needs a local checkpoint folder, and {model!r} is not one: download it "
                        "first, or benchmark its shape with --dummy_config")
    folder.mkdir(parents=True)
    for file in original.iterdir():
        if file.name != "generation_config.json":
            (folder / file.name).symlink_to(file.resolve())
    tokenizer = load_bench_tokenizer(str(original))  # for its EOS; reloaded from the folder below
    raw = json.loads((original / "config.json").read_text())
    generation = original / "generation_config.json"
    settings = json.loads(generation.read_text()) if generation.exists() else {}
    eos = _eos_ids(raw.get("eos_token_id"), settings.get("eos_token_id"), tokenizer.eos_token_id,
                   tokenizer.pad_token_id)
    settings.update(eos_token_id=eos, suppress_tokens=eos)
    (folder / "generation_config.json").write_text(json.dumps(settings, indent=2))
    return ModelSource(folder, ref.display, ModelShape.from_config(raw), False, tokenizer, eos, folder.parent)
