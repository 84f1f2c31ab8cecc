"""The run manifest: every setting of a configuration as the run resolved it, beside its results.

    <run folder>/manifest.json   {"format": 1, "configurations": {"<stem>": ENTRY, ...}}

A run folder holds several configurations (prompt modes, agents, backends); each has one ENTRY under the
stem of its files (`<model>_<dataset>_<label>`), written when its engine is ready and again when the run
stops (finished, interrupted or failed):

    settings     every setting, named as its flag (`max_new_tokens`, `inference_backend`, `num_runs`...),
                 built with `dataclasses.asdict` from the run's EvalConfig (agent parameters and
                 GenerationSettings flattened in), so a new setting appears here without an edit
    resolved     what the run chose where the user did not: batch_size ("auto" -> the number), concurrency,
                 device, dtype, threads
    engine       the backend and every option it was built with (--engine_args included)
    model, dataset, prompt   where the weights and problems came from (path or hub id, file sha256) and the
                 prompt template (the chat messages with {question} in place of the problem)
    environment  matheval version, git commit, package versions, device name, CPU cores
    invocations  one line per invocation: when, how long, problems done, how it ended
    status       running / finished / interrupted / failed

Readers (`matheval compare`, the report, `matheval regrade`) use `read_entry(folder, stem)` and
`flat_settings(entry)`; the format is documented in docs/manifest.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import time
from pathlib import Path

from .data import DATA_DIR_ENV, Problem, fingerprint, get_spec, is_benchmark, is_file_dataset
from .prompts import build_messages
from .results import read_folder_json, update_folder_json

FORMAT = 1
NAME = "manifest.json"
PACKAGES = ("torch", "transformers", "accelerate", "vllm", "triton", "math-verify", "sympy", "datasets", "openai",
            "numpy")
# EvalConfig fields that are not settings of the evaluation (where it is written, how it is shown)
NOT_SETTINGS = frozenset({"progress", "results_dir", "command"})
FLAG_NAMES = {"backend": "inference_backend", "engine_extra": "engine_args"}  # field -> the flag users know


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


def settings_of(config) -> dict:
    """A run's settings as flat {flag name: value}: the config dataclass with its nested dataclasses (agent
    parameters, generation settings) merged in, so fields added to any of them are recorded unedited."""
    values = dataclasses.asdict(config)
    flat: dict = {}

    def merge(mapping: dict) -> None:
        for key, value in mapping.items():
            if key in NOT_SETTINGS:
                continue
            if key == "examples":  # few-shot problems: their ids (the texts are in the prompt template)
                flat["fewshot_examples"] = [e["id"] if isinstance(e, dict) else e for e in value]
            elif key in ("params", "generation") and isinstance(value, dict):
                merge(value)
            else:
                flat.setdefault(FLAG_NAMES.get(key, key), value)

    merge(values)
    return flat


def dataset_source(config, name: str, problems: list) -> dict:
    """Where a run's problems came from: a file (with its sha256), a data folder, the hub, or the generator."""
    source: dict = {"name": name, "given": config.dataset, "problems": len(problems),
                    "selection": (f"random {config.limit} (seed {config.sample_seed or 0})" if config.limit
                                  else f"first {config.count}" if config.count else "all")}
    if is_file_dataset(config.dataset) and not is_benchmark(config.dataset):
        path = Path(config.dataset).expanduser().resolve()
        source.update(file=str(path), sha256=fingerprint(path))
    elif config.data_dir or os.environ.get(DATA_DIR_ENV):
        source["data_dir"] = str(Path(config.data_dir or os.environ[DATA_DIR_ENV]).expanduser().resolve())
    else:
        spec = get_spec(config.dataset)
        source["hub"] = spec.hub.repo if spec.hub else "generated"
    source["first_ids"] = [problem.id for problem in problems[:3]]
    return source


def prompt_template(mode: str, examples: list, agent: str) -> dict:
    """The chat messages of a prompt mode, with {question} where each problem goes."""
    placeholder = Problem(id="{id}", question="{question}", answer="")
    template = {"mode": mode, "messages": build_messages(placeholder, mode, examples)}
    if agent != "standard":
        template["note"] = (f"agent {agent} builds its later prompts from this one; every call's messages are in "
                            "the records' traces")
    return template


def git_commit(where: Path) -> str | None:
    """The checkout's commit, with "+dirty" when files differ from it; None outside a git checkout."""
    try:
        commit = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
        return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def device_name(device: str | None) -> str | None:
    """The GPU's name for a cuda device, the CPU's model for the CPU."""
    if device and device.startswith("cuda"):
        try:
            import torch

            index = int(device.split(":")[1]) if ":" in device else 0
            return torch.cuda.get_device_name(index)
        except Exception:  # noqa: BLE001 - a name is nice to have, never worth failing a run
            return device
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: str | None) -> dict:
    from . import __version__

    return {"matheval": __version__, "git_commit": git_commit(Path(__file__).resolve().parent),
            "python": platform.python_version(), "platform": platform.platform(), "packages": package_versions(),
            "device": device, "device_name": device_name(device), "cpus": os.cpu_count()}


def read_manifest(folder: str | Path) -> dict[str, dict]:
    """Every configuration's entry in a run folder, by stem ({} for folders written before manifests)."""
    return read_folder_json(Path(folder) / NAME)


def read_entry(folder: str | Path, stem: str) -> dict | None:
    """The entry of one configuration (the stem of its answers file), or None where there is none."""
    return read_manifest(folder).get(stem)


def update_entry(folder: str | Path, stem: str, changes: dict) -> dict:
    """Merge `changes` into a configuration's entry (nested dicts merged, lists replaced) and write the
    manifest (under a lock, atomically). Returns the entry as written."""
    entry = read_entry(folder, stem) or {"format": FORMAT, "stem": stem, "created": now()}
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(entry.get(key), dict):
            entry[key] = {**entry[key], **value}
        else:
            entry[key] = value
    entry["updated"] = now()
    update_folder_json(Path(folder) / NAME, stem, entry, FORMAT)
    return entry


def flat_settings(entry: dict | None) -> dict:
    """{flag: value} of an entry, resolved values in place of what was asked (batch_size "auto" -> 16), the
    backend's options (--engine_args) flattened as `engine.<key>`."""
    if not entry:
        return {}
    flat = dict(entry.get("settings") or {})
    for key, value in (entry.get("resolved") or {}).items():
        asked = flat.get(key)
        flat[key] = value if asked in (None, value) else f"{asked} ({value})"
    for key, value in (flat.pop("engine_args", None) or {}).items():
        flat[f"engine.{key}"] = value
    return flat


# settings that tell rows apart without being a difference worth a column (the row already names them)
SHOWN_ELSEWHERE = frozenset({"model", "dataset", "mode", "agent", "round", "data_dir", "inference_backend",
                             "fewshot_examples", "count"})


def differing_settings(entries: list[dict | None]) -> list[str]:
    """The settings whose values differ between these entries (the columns `compare` adds), in a stable order."""
    flats = [flat_settings(e) for e in entries if e]
    if len(flats) < 2:
        return []
    keys: list[str] = []
    for flat in flats:
        keys += [k for k in flat if k not in keys]
    return [k for k in keys if k not in SHOWN_ELSEWHERE
            and len({json.dumps(f.get(k), sort_keys=True, default=str) for f in flats}) > 1]


def describe_value(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)
