"""The tokenizer of a model folder, as `AutoTokenizer` loads it, without its detour from the second load on.

transformers' Auto path loads the model's config class first, and that import chain (type validators,
activations, hub kernels, model loading) took 6 of the 8 seconds of a tokenizer load on our CPU machine.
`load_tokenizer` remembers which class AutoTokenizer chose for a folder (keyed by the folder, its tokenizer
files and the transformers version, in `$MATHEVAL_CACHE/tokenizer_classes.json`) and the next load imports
that class and reads the same files with it directly. Every backend and the protocol check load through it.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from pathlib import Path

from matheval.models import cache_dir

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                   "chat_template.json", "tokenizer.model", "vocab.json", "merges.txt", "config.json")


def load_tokenizer(folder: Path | None):
    """The folder's tokenizer, as AutoTokenizer loads it; from the second start on without its detour."""
    if folder is None or not any(folder.glob("tokenizer*")):
        return None
    key = tokenizer_key(folder)
    record = _read_choices().get(key)
    if record is not None:
        try:
            cls = getattr(importlib.import_module(record["module"]), record["name"])
            return cls.from_pretrained(str(folder))
        except Exception:  # noqa: BLE001 - a stale record (another transformers): take the long way below
            pass
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    cls = type(tokenizer)
    _write_choice(key, {"module": cls.__module__, "name": cls.__qualname__})
    return tokenizer


def tokenizer_key(folder: Path) -> str:
    """The folder, its tokenizer files (name, size, modification time) and the transformers version."""
    import transformers

    parts = [str(folder.resolve()), transformers.__version__]
    for name in TOKENIZER_FILES:
        path = folder / name
        if path.is_file():
            stat = path.stat()
            parts.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _choices_file() -> Path:
    return cache_dir() / "tokenizer_classes.json"


def _read_choices() -> dict:
    try:
        return json.loads(_choices_file().read_text())
    except (OSError, ValueError):
        return {}


def _write_choice(key: str, record: dict) -> None:
    """Best effort (a read-only cache folder only costs the next start its detour); written atomically."""
    try:
        path = _choices_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        choices = _read_choices()
        choices[key] = record
        staging = path.with_name(f".{path.name}.{os.getpid()}")
        staging.write_text(json.dumps(choices, indent=1))
        os.replace(staging, path)
    except OSError:
        pass

