"""A model loaded once and kept for many evaluations: `matheval.load(...)`, `--dataset gsm8k,math500,aime25`.

Loading is much of a short run's time, so a session holds the engine (and a separate judge model, if an
agent asks for one) across evaluations, with one event loop for all of them (backends that bind to a loop
keep working). It checks what can be checked before anything loads, in a second rather than after a
40-second load: a CUDA device on a CPU-only torch, a hub model with no network (HF_HUB_OFFLINE honoured).
It picks the thread count (matheval.threads) when it loads a model here.

    with matheval.load("smollm2-135m", batch_size=8) as session:
        for dataset in ("gsm8k", "math500"):
            matheval.evaluate(dataset=dataset, engine=session, data_dir="../shared/data", count=20)
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from . import network
from .engines import EngineOptions, backend as find_backend, build_engine, ignored_options, resolve_model
from .engines.base import DEFAULT_MAX_NEW_TOKENS, Engine
from .engines.registry import check_engine_args
from .errors import UserError
from .models import DEFAULT_MODEL, ModelRef
from .threads import ThreadPlan, apply_threads, plan_threads


def check_device(device: str | None) -> None:
    """A CUDA device that this torch cannot use fails here, in one line, before any loading."""
    if not device or not device.startswith("cuda"):
        if device and device != "cpu" and not device.startswith(("mps", "xpu")):
            raise UserError(f"unknown --device {device!r}: use cuda, cuda:N or cpu")
        return
    import torch

    if torch.version.cuda is None:
        raise UserError(f"--device {device}: this torch ({torch.__version__}) is a CPU-only build; use --device cpu, "
                        "or install a CUDA build of torch (https://pytorch.org/get-started/locally/)")
    if not torch.cuda.is_available():
        raise UserError(f"--device {device}: torch {torch.__version__} sees no CUDA GPU (driver missing, or "
                        "CUDA_VISIBLE_DEVICES empty); use --device cpu")
    index = int(device.split(":", 1)[1]) if ":" in device and device.split(":", 1)[1].isdigit() else 0
    if index >= torch.cuda.device_count():
        raise UserError(f"--device {device}: only {torch.cuda.device_count()} GPU(s) visible; use cuda:0 to "
                        f"cuda:{torch.cuda.device_count() - 1}")


def in_hub_cache(hub_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(hub_id, "config.json"), str)
    except Exception:  # noqa: BLE001 - an unusual cache layout: let the loader decide
        return False


def check_model_source(model: ModelRef) -> str | None:
    """A hub model needs the hub or the local cache: with neither, one line now instead of a minute of
    retries. Returns a note to log when the cache is used because the hub is out of reach."""
    if model.packaged or not model.hub_id or Path(model.path).is_dir():
        return None
    if network.use_hub():
        return None
    if in_hub_cache(model.hub_id):
        return f"{model.hub_id} loads from the local cache ({network.offline_reason()})"
    raise UserError(f"{model.hub_id} is not in the local Hugging Face cache and the hub is out of reach "
                    f"({network.offline_reason()}): pass a local checkpoint folder as --model, or run where "
                    "huggingface.co can be reached")


class Session:
    """One backend and model, loaded on first use and kept until `close()`."""

    def __init__(self, model: str = DEFAULT_MODEL, backend: str = "transformers", *,
                 batch_size: int | str | None = None, device: str | None = None, dtype: str | None = None,
                 seed: int = 0, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, threads: int | None = None,
                 engine_options: dict | None = None, data_parallel: int | str | None = None,
                 ray_address: str | None = None, chat_template_kwargs: dict | None = None):
        self.backend = find_backend(backend).name
        self.model = resolve_model(backend, model)
        self.model_name = model
        self.options = EngineOptions(batch_size=batch_size, device=device, dtype=dtype, seed=seed,
                                     max_new_tokens=max_new_tokens, extra=dict(engine_options or {}),
                                     chat_template_kwargs=dict(chat_template_kwargs or {}))
        check_engine_args(self.backend, self.options.extra)
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise UserError(f"--threads must be a positive integer, got {threads!r}")
        self.threads = threads
        self.data_parallel, self.ray_address = data_parallel, ray_address  # replicas (engines.replicas)
        self.say = print  # where data parallelism tells where its replicas went (a run points it at its log)
        self.plan: ThreadPlan | None = None
        self.notes: list[str] = ignored_options(self.backend, self.options)
        self._engines: dict[str, Engine] = {}
        self._runner = None
        self._checked = False

    @property
    def remote(self) -> bool:
        return find_backend(self.backend).remote

    def check(self) -> None:
        """Everything that can fail before loading: the device, where the weights come from."""
        if self._checked:
            return
        if not self.remote:
            check_device(self.options.device)
            note = check_model_source(self.model)
            if note:
                self.notes.append(note)
        self._checked = True

    def engine(self, model: ModelRef | None = None) -> Engine:
        """The engine of `model` (default: the session's), built on first use."""
        model = model or self.model
        if model.path not in self._engines:
            self.check()
            replicated = self.data_parallel is not None or bool(self.ray_address)
            if not self.remote and not replicated and self.plan is None:  # replicas choose their own threads
                self.plan = plan_threads(self.threads)
                apply_threads(self.plan)
                if model is not self.model and (note := check_model_source(model)):
                    self.notes.append(note)
            self._engines[model.path] = build_engine(self.backend, model, self.options, self.data_parallel,
                                                     self.ray_address, self.say)
        return self._engines[model.path]

    @property
    def loaded(self) -> bool:
        return bool(self._engines)

    def resolved(self) -> dict:
        """What the engines chose where the user did not (batch_size auto -> rows, device, dtype, threads)."""
        found: dict = {}
        engine = self._engines.get(self.model.path)
        if engine is not None:
            for holder in (engine, getattr(engine, "backend", None), getattr(engine, "config", None)):
                for name in ("batch_size", "device", "dtype", "max_num_seqs", "max_model_len"):
                    value = getattr(holder, name, None) if holder is not None else None
                    if value is None or name in found or callable(value):
                        continue
                    plain = isinstance(value, (int, str)) and not isinstance(value, bool)
                    found[name] = value if plain else str(value).replace("torch.", "")
        if self.plan is not None:
            found["threads"] = self.plan.threads
        return found

    def run(self, coroutine):
        """Run a coroutine on the session's event loop (the same loop for every evaluation)."""
        if self._runner is None:
            if hasattr(asyncio, "Runner"):
                self._runner = asyncio.Runner()
            else:  # Python 3.10: a fresh loop per run (engines bound to a loop are rebuilt by close_engines)
                return asyncio.run(coroutine)
        return self._runner.run(coroutine)

    def close_engines(self) -> None:
        """Drop the loaded engines (after Ctrl-C their batches are aborted); the next use loads again."""
        engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            try:
                engine.close()
            except Exception as exc:  # noqa: BLE001 - closing is best effort; say it and go on
                print(f"matheval: note: closing the {self.backend} engine failed: {exc}", file=sys.stderr)

    def close(self) -> None:
        self.close_engines()
        if self._runner is not None:
            self._runner.close()
            self._runner = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def load(model: str = DEFAULT_MODEL, backend: str = "transformers", **options) -> Session:
    """A session for `matheval.evaluate(..., engine=session)`: the model loads on the first evaluation and
    stays loaded until the session is closed (use it in a `with` block)."""
    return Session(model, backend, **options)
