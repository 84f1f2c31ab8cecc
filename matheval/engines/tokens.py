"""The model's tokenizer as a run's bookkeeping uses it: counting the tokens of a text, and cutting a text
after its first n tokens (budget forcing). Loaded once per run beside the engine, from the same files."""

from __future__ import annotations


class TokenText:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def count(self, text: str) -> int:
        return len(self.ids(text)) if text else 0

    def head(self, text: str, tokens: int) -> str:
        """The text of the first `tokens` tokens of `text` (all of it when it is shorter)."""
        ids = self.ids(text)
        if len(ids) <= tokens:
            return text
        return self.tokenizer.decode(ids[:tokens], skip_special_tokens=False)


def load_tokenizer(path: str):
    """The tokenizer of a local folder or a cached hub model, or None when there is none to be had here."""
    from pathlib import Path

    from ..network import use_hub
    from .tokenizer_cache import load_tokenizer as load_folder_tokenizer

    try:
        if Path(path).is_dir():  # a model folder: the class AutoTokenizer chose last time, without its detour
            return load_folder_tokenizer(Path(path))
        from transformers import AutoTokenizer

        # a hub name with the hub out of reach: the local cache only (no minute of retries)
        return AutoTokenizer.from_pretrained(path, local_files_only=not use_hub())
    except Exception:  # noqa: BLE001 - no tokenizer means: the run goes without what needs one
        return None
