"""Backends by name: what each one is, which shared options it reads, and how to build it.

Backend modules are imported on first use, so a missing optional dependency (vLLM, say) only matters to
whoever chooses that backend, and then as a one-line error that says how to install it. Each module
exposes `create(model, options) -> Engine`; adding a backend is one module and one row here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..errors import UserError
from ..models import ModelRef
from .base import Engine, EngineOptions


@dataclass(frozen=True)
class Backend:
    name: str
    module: str  # under matheval.engines
    summary: str  # what runs the model, and how it batches
    reads: frozenset[str] = frozenset()  # the shared options (EngineOptions fields and CLI extras) it uses
    remote: bool = False  # --model names a served model; nothing is loaded here
    # --engine_args keys it takes beyond the shared flags: a tuple of names, or None where the backend checks
    # them itself (native: engines/native/config.py EngineConfig) or hands them to its library (vLLM's LLM)
    engine_args: tuple[str, ...] | None = ()

    def create(self, model: ModelRef, options: EngineOptions) -> Engine:
        module = importlib.import_module(f"{__package__}.{self.module}")
        return module.create(model, options)


_LOCAL = frozenset({"device", "dtype"})
BACKENDS: dict[str, Backend] = {backend.name: backend for backend in (
    Backend("transformers", "transformers_engine", "`model.generate` here; static batches gathered by the Batcher",
            _LOCAL | {"batch_size"}),
    Backend("continuous", "continuous_engine", "transformers' continuous batching here; paged KV cache",
            _LOCAL | {"batch_size"}),
    Backend("native", "native", "matheval's own engine here; continuous batching, paged KV cache, CUDA graphs",
            _LOCAL | {"max_model_len"}, engine_args=None),
    Backend("vllm", "vllm_engine", "offline `vllm.LLM` here (CUDA GPU); vLLM's scheduler, fed by the Batcher",
            _LOCAL | {"tensor_parallel_size", "gpu_memory_utilization", "max_model_len"}, engine_args=None),
    Backend("openai", "openai_engine", "any OpenAI-compatible server over HTTP; the server batches",
            frozenset({"base_url", "api", "max_concurrency"}), remote=True,
            engine_args=("request_timeout", "max_retries", "retry_policy")),
)}


def backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise UserError(f"unknown --inference_backend {name!r}: use one of {', '.join(BACKENDS)}")
    return BACKENDS[name]


def check_engine_args(name: str, extra: dict) -> None:
    """Refuse --engine_args keys the backend would not read (a typo must not be ignored silently)."""
    known = backend(name).engine_args
    if known is None:
        return
    unknown = sorted(set(extra) - set(known) - _SHARED_FLAGS)
    if unknown:
        takes = f"it takes {', '.join(known)}" if known else "it takes none"
        raise UserError(f"--engine_args {', '.join(unknown)}: not an option of the {name} backend ({takes}; "
                        "see docs/backends.md)")


def parse_value(text: str):
    """An --engine_args value as the type it spells: 64 -> int, 0.9 -> float, true/false, none, else text."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text.strip()


def parse_engine_args(text: str) -> dict:
    """`key=value,key=value` (lm-eval's --model_args form) as a dict of typed values."""
    values = {}
    for part in (p for p in text.split(",") if p.strip()):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--engine_args {text!r}: expected key=value pairs separated by commas, "
                            "e.g. max_num_seqs=64,enforce_eager=true")
        values[key.strip()] = parse_value(value)
    return values


def create_engine(name: str, model: ModelRef, options: EngineOptions) -> Engine:
    return backend(name).create(model, options)


def build_engine(name: str, model: ModelRef, options: EngineOptions, data_parallel: int | str | None = None,
                 ray_address: str | None = None, log=None) -> Engine:
    """One engine in this process, or N replicas of it behind one Engine (--data_parallel, --ray_address).

    A server backend is already a replica set of its own: there N only multiplies the requests in flight."""
    if data_parallel is None and not ray_address:
        return create_engine(name, model, options)
    if backend(name).remote:
        if ray_address:
            raise UserError(f"--ray_address places engine replicas; the {name} backend runs none here: drop it "
                            "and point --base_url at the served model")
        if data_parallel == "auto":
            data_parallel = 1
        module = importlib.import_module(f"{__package__}.{backend(name).module}")
        shared = int(options.extra.get("max_concurrency") or module.DEFAULT_CONCURRENCY)
        options.extra["max_concurrency"] = shared * data_parallel
        (log or print)(f"--data_parallel {data_parallel} with the {name} backend: one client with {data_parallel}x "
                       f"the requests in flight ({shared * data_parallel}); the server's own replicas serve them")
        return create_engine(name, model, options)
    from .replicas import create_replicated

    return create_replicated(name, model, options, data_parallel or "auto", ray_address, log)


def resolve_model(name: str, model: str) -> ModelRef:
    """What --model means for this backend: local weights to load, or the id a server knows."""
    if backend(name).remote:
        from .openai_engine import served_model

        return served_model(model)
    from ..models import resolve

    return resolve(model)


def ignored_options(name: str, options: EngineOptions) -> list[str]:
    """The flags the user set that this backend does not read, each said once so nothing is ignored silently."""
    reads = backend(name).reads
    given = {"batch_size": options.batch_size is not None, "device": options.device is not None,
             "dtype": options.dtype is not None, **{key: True for key in options.extra}}
    return [f"--{flag} is not used by the {name} backend" for flag, set_ in given.items()
            if set_ and flag not in reads and flag in _SHARED_FLAGS]


# the options `ignored_options` knows to be user flags (backend-specific extras beyond these are the backend's own)
_SHARED_FLAGS = frozenset({"batch_size", "device", "dtype", "base_url", "api", "max_concurrency",
                           "tensor_parallel_size", "gpu_memory_utilization", "max_model_len"})
