"""Reading local JSONL benchmark files, with errors that name the file and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from ..errors import UserError


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, record) for each non-blank line; UserError on a line that is not an object."""
    try:
        handle = open(path, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with handle:
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UserError(f"{path} line {number}: not valid JSON ({exc.msg})") from exc
                if not isinstance(record, dict):
                    kind = type(record).__name__
                    raise UserError(f"{path} line {number}: expected a JSON object, found {kind}")
                yield number, record
        except UnicodeDecodeError as exc:
            raise UserError(f"{path}: not UTF-8 text ({exc.reason})") from exc
