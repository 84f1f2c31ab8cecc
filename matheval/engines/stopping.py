"""When a generated sequence ends, for every backend: one EOS set, one stop-string rule, one cut.

Chat models often end a turn with a token that only one of config.json, generation_config.json and the
tokenizer names, so the EOS set is their union; a backend that built it from one source would run past a
turn's end that another backend stops at. Stop strings are matched on decoded text (a stop string can span
tokens), and the text returned never contains one. Pure Python: the HTTP backend imports this without torch.
"""

from __future__ import annotations

import json
from pathlib import Path


def eos_token_ids(*declared, tokenizer=None) -> frozenset[int]:
    """The union of every declared `eos_token_id` value (an id, a list of ids, or None) and the
    tokenizer's EOS token."""
    ids: set[int] = set()
    for value in declared:
        if isinstance(value, (list, tuple, set, frozenset)):
            ids.update(int(v) for v in value)
        elif value is not None:
            ids.add(int(value))
    if tokenizer is not None and getattr(tokenizer, "eos_token_id", None) is not None:
        ids.add(int(tokenizer.eos_token_id))
    return frozenset(ids)


def declared_in_folder(folder: str | Path | None) -> list:
    """The `eos_token_id` values of a checkpoint folder's config.json and generation_config.json."""
    values = []
    for name in ("config.json", "generation_config.json"):
        path = Path(folder) / name if folder else None
        if path is not None and path.is_file():
            values.append(json.loads(path.read_text()).get("eos_token_id"))
    return values


def cut_at_stop(text: str, stops) -> str | None:
    """The text before the earliest stop string, or None when no stop string occurs."""
    positions = [text.find(s) for s in stops if s and s in text]
    return text[: min(positions)] if positions else None


def tail_has_stop(tokenizer, token_ids: list[int], stops) -> bool:
    """Whether a stop string ends within the last few tokens (checked as each token arrives: the stop
    string completed by the newest token lies within a window a little longer than the string)."""
    stops = [s for s in stops if s]
    if not stops:
        return False
    window = max(len(s) for s in stops) + 8
    return cut_at_stop(tokenizer.decode(token_ids[-window:], skip_special_tokens=True), stops) is not None


def finish_tokens(tokenizer, eos_ids, generated: list[int], sampling) -> tuple[str, int, str]:
    """Cut generated tokens at EOS, the token budget, or the first stop string:
    (text without the stop string, completion tokens, finish reason "stop" or "length")."""
    tokens = generated[: sampling.max_tokens]
    reason = "length"
    for position, token in enumerate(tokens):
        if token in eos_ids:
            tokens, reason = tokens[: position + 1], "stop"
            break
    text = tokenizer.decode(tokens, skip_special_tokens=True)
    cut = cut_at_stop(text, sampling.stop)
    if cut is not None:
        text, reason = cut, "stop"
        tokens = tokens[: count_tokens_through(tokenizer, tokens, len(cut))]
    return text, len(tokens), reason


def count_tokens_through(tokenizer, tokens: list[int], chars: int) -> int:
    """How many tokens it took to produce `chars` characters of text (the stop string's last token
    included), so token counts match what a server reports for the same stop."""
    low, high = 1, len(tokens)
    while low < high:  # smallest n whose decoded text is longer than `chars`
        middle = (low + high) // 2
        if len(tokenizer.decode(tokens[:middle], skip_special_tokens=True)) > chars:
            high = middle
        else:
            low = middle + 1
    return low
