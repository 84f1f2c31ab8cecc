"""`--config run.yaml`: the flags of `matheval eval` / `agent` in a file, for runs worth keeping.

    # run.yaml
    model: smollm2-135m
    dataset: [gsm8k, math500]      # a list or "gsm8k,math500"
    data_dir: ../shared/data
    count: 20
    max_new_tokens: 256
    inference_backend: native
    engine_args: {max_num_seqs: 64, enforce_eager: true}

Each key is a flag's name (without `--`); the values become the flags' defaults, so a flag given on the
command line still wins. An unknown key is refused with the closest flag named, never ignored.
"""

from __future__ import annotations

import argparse
import difflib
from pathlib import Path

from .errors import UserError


def read_config(path: str) -> dict:
    import yaml

    try:
        data = yaml.safe_load(Path(path).expanduser().read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"--config {path}: cannot read it ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"--config {path}{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"--config {path}: expected a mapping of flag names to values, e.g. `max_new_tokens: 256`")
    return data


def apply_config(parser: argparse.ArgumentParser, path: str) -> dict:
    """Set the parser's defaults from the file (checked against its flags); returns what was set."""
    destinations = {action.dest: action for action in parser._actions if action.option_strings}
    values = {}
    for key, value in read_config(path).items():
        name = str(key).lstrip("-").replace("-", "_")
        if name in ("config", "help"):
            continue
        if name not in destinations:
            close = difflib.get_close_matches(name, list(destinations), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UserError(f"--config {path}: unknown setting {key!r}{hint}; keys are the flags of --help")
        if name == "dataset" and isinstance(value, list):
            value = ",".join(str(item) for item in value)
        if name == "engine_args" and value is not None and not isinstance(value, (dict, str)):
            raise UserError(f"--config {path}: engine_args is a mapping (max_num_seqs: 64) or 'key=value,...'")
        action = destinations[name]
        if action.type is not None and value is not None and not isinstance(value, str) and name != "engine_args":
            value = str(value).lower() if isinstance(value, bool) else str(value)  # the flag's own parser checks it
        values[name] = value
    parser.set_defaults(**values)
    return values
