"""The engine configurations under test, by name, and how each runs a batch of requests.

| name            | what runs                                                                          |
| --------------- | ---------------------------------------------------------------------------------- |
| `tf-b<N>`       | the `transformers` backend at `--batch_size N` (the Batcher + `model.generate`); `tf-b<N>-fp32` in fp32 |
| `tf-auto`       | the same at `--batch_size auto` (when the checkout's backend has it)               |
| `tf-compile`    | `model.generate` with `cache_implementation="static"` + `CompileConfig`, fixed-shape batches (a reference path, not a backend) |
| `tf-continuous` | transformers' continuous batching manager (`init_continuous_batching`), all requests at once |
| `native`        | `--inference_backend native` (paged KV cache, CUDA graphs on a GPU)                 |
| `native-eager`  | the same without CUDA graphs                                                        |
| `native-k1`     | `native` with one decode step per host round (the default queues 8 on a GPU)        |
| `native-sync`   | `native` in lock step: each step read back before the next is planned (no async)    |
| `native-det`    | `native` in deterministic (batch-invariant) mode; `native-det-eager` without CUDA graphs |
| any backend     | `create_engine(name, ...)` for any other name in `matheval.engines.BACKENDS`      |

Configurations that share weights share one loaded model (a "family"); switching family frees the other.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import inspect
import re
import time
from dataclasses import dataclass

import torch

from ..engines import BACKENDS, EngineOptions, Sampling, create_engine
from ..errors import UserError
from ..models import ModelRef
from .model_source import ModelSource
from .workloads import MAX_OUTPUT, Item

NATIVE = ("native", "native-lazy", "native-eager", "native-k1", "native-sync", "native-det", "native-det-eager")
FIXED = ("tf-auto", "tf-compile", "tf-continuous", *NATIVE)
STALL_S = 120  # a continuous-batching run with no finished request for this long has hung


class Skip(Exception):
    """This configuration cannot run this workload here; the message says why."""


@dataclass(frozen=True)
class ConfigSpec:
    name: str
    family: str  # "transformers", "native", or "backend:<name>"
    batch: int | str | None = None  # static batch size, "auto", or None (continuous engines)


def parse_config(name: str) -> ConfigSpec:
    match = re.fullmatch(r"tf-b(\d+)(-fp32)?", name)
    if match and int(match.group(1)) >= 1:  # -fp32: a second model in fp32 (the GPU's reproducible path)
        return ConfigSpec(name, "transformers-fp32" if match.group(2) else "transformers", int(match.group(1)))
    if name == "tf-auto":
        return ConfigSpec(name, "transformers", "auto")
    if name in ("tf-compile", "tf-continuous"):
        return ConfigSpec(name, "transformers")
    if name in NATIVE:
        return ConfigSpec(name, "native")
    if name in BACKENDS and name not in ("transformers", "native"):
        return ConfigSpec(name, f"backend:{name}")
    raise UserError(f"unknown --configs entry {name!r}: use tf-b<N> (e.g. tf-b16, tf-b16-fp32), {', '.join(FIXED)}"
                    f"{', ' if len(BACKENDS) > 2 else ''}{', '.join(b for b in BACKENDS if b not in ('transformers', 'native'))}")


@dataclass
class Outcome:
    generated: list[int]  # tokens each request produced (its forced length, if the engine obeyed)
    prompt_tokens: list[int]  # prompt tokens each request had, as the engine counted them
    wall_s: float


# -- targets: how a configuration runs a list of requests ---------------------------------------------------
class EngineTarget:
    """An async Engine: requests go through `generate(messages, sampling)`, all at once, as `matheval eval`
    sends them; the Batcher in front of a static backend cuts them into batches."""

    def __init__(self, name: str, engine, batch: int | None = None):
        self.name = name
        self.engine = engine
        self.batch = batch

    @property
    def agent_engine(self):
        return self.engine

    def warm_up(self, items: list[Item]) -> None:
        """A few short requests whose prompts the measured run never sends (nothing for a prefix cache)."""
        warm = [Item([{"role": "user", "content": f"Warm-up {k}: {_text_of(i.messages)[:400]}"}], [], 4)
                for k, i in enumerate(items[: max(1, min(4, self.batch or 4))])]
        self.run(warm)
        reset_prefix_cache(self.engine)

    def run(self, items: list[Item]) -> Outcome:
        async def all_at_once():
            return await asyncio.gather(*(self.engine.generate(i.messages, Sampling(
                max_tokens=i.max_tokens, temperature=i.temperature, top_p=i.top_p, seed=i.seed)) for i in items))

        started = time.perf_counter()
        completions = asyncio.run(all_at_once())
        wall = time.perf_counter() - started
        return Outcome([c.completion_tokens[0] for c in completions], [c.prompt_tokens for c in completions], wall)

    def stats(self) -> dict:
        values = {**self.engine.stats.as_dict(), "batch_rows": self.engine.stats.batch_rows}
        native = getattr(self.engine, "native_stats", None)
        if native is not None:
            values.update({f"native_{k}": v for k, v in native().items()})
        return values


def _text_of(messages: list[dict]) -> str:
    return " ".join(m.get("content", "") for m in messages)


def reset_prefix_cache(engine) -> None:
    """Forget cached prompt blocks, so that a measurement never reuses the prompts of an earlier one
    (within a measurement, sharing is the engine's own merit). The native engine keeps freed blocks
    findable by hash until reused; engines without a prefix cache have nothing to reset."""
    reset = getattr(engine, "reset_prefix_cache", None)
    if callable(reset):
        reset()


class CompileTarget:
    """`generate` with a static KV cache and torch.compile, the anchors' fastest transformers path.
    Every batch has the same shape (left-padded to the longest prompt, run to the longest output, a last
    short batch filled with copies) so the model compiles once; the first batch, run before timing, pays
    the compile. Each row stops at its own length; the longest member sets the batch's steps."""

    def __init__(self, model, tokenizer, batch: int, device: str):
        self.name, self.model, self.tokenizer, self.batch, self.device = "tf-compile", model, tokenizer, batch, device
        self.agent_engine = None
        self.compile_s: float | None = None
        if not device.startswith("cuda"):  # transformers auto-compiles only on accelerators
            self.note = "static KV cache only: transformers does not compile on a CPU"

    def warm_up(self, items: list[Item]) -> None:
        started = time.perf_counter()
        self._generate(items[: self.batch], items)
        self.compile_s = round(time.perf_counter() - started, 2)

    def run(self, items: list[Item]) -> Outcome:
        started = time.perf_counter()
        generated = []
        for start in range(0, len(items), self.batch):
            generated += self._generate(items[start:start + self.batch], items)
        return Outcome(generated, [len(i.prompt_ids) for i in items], time.perf_counter() - started)

    @torch.inference_mode()
    def _generate(self, chunk: list[Item], shape_of: list[Item]) -> list[int]:
        from transformers import CompileConfig, StoppingCriteria

        width = max(len(i.prompt_ids) for i in shape_of)
        new_tokens = max(i.max_tokens for i in shape_of)
        rows = chunk + [chunk[0]] * (self.batch - len(chunk))
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(r.prompt_ids)) + r.prompt_ids for r in rows], device=self.device)
        mask = torch.tensor([[0] * (width - len(r.prompt_ids)) + [1] * len(r.prompt_ids) for r in rows],
                            device=self.device)
        limits = torch.tensor([r.max_tokens for r in rows], device=self.device)

        class OwnLength(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return (input_ids.shape[1] - width) >= limits

        config = copy.deepcopy(self.model.generation_config)
        config.update(max_new_tokens=new_tokens, do_sample=False, pad_token_id=pad, cache_implementation="static",
                      compile_config=CompileConfig())
        out = self.model.generate(input_ids=ids, attention_mask=mask, generation_config=config,
                                  stopping_criteria=[OwnLength()])
        new = out[: len(chunk), width:]  # a row that has stopped is padded with the (suppressed) pad token
        return (new != pad).sum(dim=1).tolist()

    def stats(self) -> dict:
        return {"compile_s": self.compile_s, "batch": self.batch}

    def close(self) -> None:
        """Drop the compiled graphs and the static cache that generate keeps on the model."""
        for attribute in ("_cache", "_compiled_call"):
            if attribute in self.model.__dict__:
                delattr(self.model, attribute)
        torch._dynamo.reset()


class ContinuousTarget:
    """transformers' continuous batching manager, fed every request at once (token ids, own lengths)."""

    def __init__(self, model, tokenizer, device: str):
        self.name, self.model, self.tokenizer, self.device = "tf-continuous", model, tokenizer, device
        self.agent_engine = None
        self.manager = None
        self.attention = model.config._attn_implementation  # the manager may switch it to a paged kernel

    def _start(self) -> None:
        config = copy.deepcopy(self.model.generation_config)
        config.update(max_new_tokens=MAX_OUTPUT, do_sample=False, eos_token_id=-1, suppress_tokens=None,
                      pad_token_id=self.tokenizer.pad_token_id)  # EOS off: each request runs to its length
        kwargs = {}
        if not self.device.startswith("cuda"):  # a small paged cache: the default sizes itself to host memory
            try:
                from transformers.generation.configuration_utils import ContinuousBatchingConfig

                if "continuous_batching_config" in inspect.signature(self.model.init_continuous_batching).parameters:
                    kwargs["continuous_batching_config"] = ContinuousBatchingConfig(num_blocks=64, page_size=16,
                                                                                    max_batch_tokens=512)
            except ImportError:
                pass
        self.manager = self.model.init_continuous_batching(generation_config=config, **kwargs)
        self.manager.start()

    def warm_up(self, items: list[Item]) -> None:
        if self.manager is None:
            self._start()
        self.run([Item(i.messages, list(reversed(i.prompt_ids)), 4) for i in items[:4]])  # prompts not reused

    def run(self, items: list[Item]) -> Outcome:
        if self.manager is None:
            self._start()
        started = time.perf_counter()
        ids = {}
        for index, item in enumerate(items):
            request = f"bench-{time.monotonic_ns()}-{index}"
            self.manager.add_request(item.prompt_ids, request_id=request, max_new_tokens=item.max_tokens)
            ids[request] = index
        generated = [0] * len(items)
        done, last_result = 0, time.monotonic()
        while done < len(items):
            result = self.manager.get_result(timeout=1)
            if result is None:
                if not getattr(self.manager, "is_running", lambda: True)():
                    raise RuntimeError("transformers' continuous batching thread stopped before finishing")
                if time.monotonic() - last_result > STALL_S:
                    raise RuntimeError(f"transformers' continuous batching returned nothing for {STALL_S} s "
                                       f"({done} of {len(items)} requests done)")
                continue
            last_result = time.monotonic()
            if result.request_id in ids and result.is_finished():
                generated[ids.pop(result.request_id)] = len(result.generated_tokens)
                done += 1
        return Outcome(generated, [len(i.prompt_ids) for i in items], time.perf_counter() - started)

    def stats(self) -> dict:
        return {}

    def close(self) -> None:
        """Stop the manager (its paged cache holds much of the GPU) and give the model back its attention."""
        if self.manager is not None:
            self.manager.stop(block=True)
            if hasattr(self.manager, "destroy"):
                self.manager.destroy()
            self.manager = None
        if self.model.config._attn_implementation != self.attention and hasattr(self.model, "set_attn_implementation"):
            self.model.set_attn_implementation(self.attention)


# -- families: the loaded model behind a set of configurations ------------------------------------------------
class TransformersFamily:
    """One `transformers` backend (weights loaded once) behind every tf-* configuration."""

    def __init__(self, source: ModelSource, device: str, dtype: str | None = None):
        self.device = device
        self.first = create_engine("transformers", ModelRef(str(source.folder), source.display),
                                   EngineOptions(batch_size=1, device=device, dtype=dtype))
        self.backend = self.first.backend
        self.targets: dict[str, object] = {}

    def target(self, spec: ConfigSpec, compile_batch: int):
        for name in [n for n, t in self.targets.items() if n != spec.name and hasattr(t, "close")]:
            self.targets.pop(name).close()  # a compiled model or a paged cache must not outlive its turn
        if spec.name not in self.targets:
            self.targets[spec.name] = self._make(spec, compile_batch)
        return self.targets[spec.name]

    def _make(self, spec: ConfigSpec, compile_batch: int):
        from ..engines.batcher import Batcher

        if spec.name == "tf-compile":
            return CompileTarget(self.backend.model, self.backend.tokenizer, compile_batch, self.device)
        if spec.name == "tf-continuous":
            if not hasattr(self.backend.model, "init_continuous_batching"):
                raise Skip("this transformers has no continuous batching (init_continuous_batching)")
            return ContinuousTarget(self.backend.model, self.backend.tokenizer, self.device)
        batch = spec.batch
        if batch == "auto":
            from ..engines.transformers_engine import static_batch_size

            batch = static_batch_size(self.backend, EngineOptions(batch_size="auto", device=self.device,
                                                                  max_new_tokens=MAX_OUTPUT))
        engine = self.first if batch == 1 else Batcher(self.backend, batch_size=int(batch))
        return EngineTarget(spec.name, engine, int(batch))

    def close(self) -> None:
        for target in self.targets.values():
            if hasattr(target, "close"):
                target.close()
        for target in self.targets.values():
            engine = getattr(target, "engine", None)
            if engine is not None and engine is not self.first:
                engine._executor.shutdown(wait=True)  # its backend is shared: closed once, below
        self.first.close()


class _OneEngineFamily:
    """A family that holds one engine at a time (`current`, set by the subclass), closed when the family
    switches or ends."""

    def close(self) -> None:
        if self.current is not None:
            self.current.engine.close()
            self.current = None


class NativeFamily(_OneEngineFamily):
    """The native engine; `native` and `native-eager` each get their own (they size the KV cache alike),
    and so does a workload that brings engine options of its own."""

    def __init__(self, source: ModelSource, device: str):
        self.source, self.device = source, device
        self.current: EngineTarget | None = None
        self.current_key = None

    def target(self, spec: ConfigSpec, compile_batch: int, workload_extra: dict | None = None) -> EngineTarget:
        """`workload_extra`: engine options a workload is defined with (the reasoning workload's KV cache)."""
        key = (spec.name, tuple(sorted((workload_extra or {}).items())))
        if self.current is not None and self.current_key == key:
            return self.current
        self.close()
        self.current_key = key
        extra = {"ignore_eos": True, **(workload_extra or {})}
        if spec.name.endswith("-eager"):
            extra["enforce_eager"] = True
        if spec.name == "native-k1":
            extra["decode_steps"] = 1
        if spec.name == "native-sync":
            extra["async_scheduling"] = False
        if spec.name.startswith("native-det"):
            extra["deterministic"] = True
        # Measured rates leave the engine's start-up out, CUDA graphs included: every decode bucket is captured
        # when the engine is built. `native-lazy` captures each when a batch first needs it, as `matheval eval`
        # does (a few buckets for a short run), so the measured run pays for its captures.
        extra["lazy_graphs"] = spec.name == "native-lazy"
        if not self.device.startswith("cuda") and "num_kv_blocks" not in extra:
            extra["kv_cache_gb"] = 0.25
        engine = create_engine("native", ModelRef(str(self.source.folder), self.source.display),
                               EngineOptions(device=self.device, extra=extra))
        self.current = EngineTarget(spec.name, engine)
        return self.current


class BackendFamily(_OneEngineFamily):
    """Any other backend of `matheval.engines`, built the way `matheval eval` builds it."""

    def __init__(self, source: ModelSource, device: str, name: str):
        self.source, self.device, self.name = source, device, name
        self.current: EngineTarget | None = None

    def target(self, spec: ConfigSpec, compile_batch: int) -> EngineTarget:
        if self.current is None:
            options = EngineOptions(batch_size=256 if self.device.startswith("cuda") else 8, device=self.device)
            engine = create_engine(self.name, ModelRef(str(self.source.folder), self.source.display), options)
            self.current = EngineTarget(spec.name, engine)
        return self.current


def make_family(spec: ConfigSpec, source: ModelSource, device: str):
    if spec.family in ("transformers", "transformers-fp32"):
        return TransformersFamily(source, device, "float32" if spec.family.endswith("fp32") else None)
    if spec.family == "native":
        return NativeFamily(source, device)
    return BackendFamily(source, device, spec.family.split(":", 1)[1])


def free_memory(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
