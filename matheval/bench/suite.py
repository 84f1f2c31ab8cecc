"""`matheval bench`: build the model and workloads, measure each (config, workload) in plan order, and
write the JSON and the markdown tables after every measurement, so a run cut short keeps what it measured."""

from __future__ import annotations

import asyncio
import time
import traceback
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import torch

from ..errors import UserError
from . import determinism
from . import plan as planning
from .forced import ForcedEngine, drive_agent
from .model_source import prepare_model
from .monitor import (GpuMonitor, device_info, measure_ceilings, peak_memory_gb, reset_peak_memory,
                      source_commit, versions)
from .report import add_speedups, render, replace_block, suite_estimate, write_json
from .roofline import shape_summary, workload_floor
from .targets import NativeFamily, Skip, free_memory, make_family, reset_prefix_cache
from .workloads import SCALES, WORKLOADS, AgentWorkload, Item, build_workloads, suite_output_means


# Outside the tracked tree (results/ is git-ignored): a run records itself in benchmarks/ only when asked to
# (benchmarks/run_gpu.sh collect, or --results_md benchmarks/history/<date>.md; docs/benchmarks.md).
DEFAULT_OUT = "results/bench"
DEFAULT_RESULTS_MD = "results/bench/RESULTS.md"


@dataclass
class BenchConfig:
    model: str | None = None
    dummy_config: str | None = None
    tokenizer: str | None = None
    workloads: list[str] = field(default_factory=lambda: list(WORKLOADS))
    configs: list[str] | None = None
    scale: str = "full"
    deadline: float | None = None  # seconds from `started`
    out: str = DEFAULT_OUT
    results_md: str | None = DEFAULT_RESULTS_MD
    block: str | None = None  # the markdown block: default "gpu" on a GPU, "cpu" otherwise
    device: str | None = None
    seed: int = 0
    data_dir: str | None = None
    work_dir: str | None = None
    tag: str | None = None  # added to the JSON file names (a second run on the same day and device)
    reasoning_prompts: int | None = None  # measure the reasoning workload on its first N prompts (all samples)
    command: str = "matheval bench"
    started: float = field(default_factory=time.monotonic)


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def run_bench(config: BenchConfig) -> dict:
    if config.scale not in SCALES:
        raise UserError(f"unknown --scale {config.scale!r}: use {', '.join(SCALES)}")
    for name in config.workloads:
        if name not in WORKLOADS:
            raise UserError(f"unknown --workload {name!r}: use {', '.join(WORKLOADS)}")
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but torch sees no GPU: use --device cpu")
    if device == "cuda":
        device = f"cuda:{torch.cuda.current_device()}"
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    scale = SCALES[config.scale]
    out_dir = Path(config.out)
    results_md = Path(config.results_md) if config.results_md else None
    block = config.block or ("gpu" if device.startswith("cuda") else "cpu")

    if config.configs:
        planning.make_jobs(config.scale, config.configs, [], [])  # unknown names fail before anything loads
    source = prepare_model(config.model, config.dummy_config, config.tokenizer, device, dtype, config.seed,
                           config.work_dir)
    log(f"model {source.display} in {source.folder}")
    families: dict[str, object] = {}
    try:
        workloads = build_workloads(config.workloads, scale, source.tokenizer, config.seed, config.data_dir)
        jobs = planning.make_jobs(config.scale, config.configs, config.workloads, workloads)
        ceilings, how = measure_ceilings(device, dtype)
        log(f"ceilings: {how}")
        bytes_per_value = torch.empty((), dtype=dtype).element_size()
        run = {
            "meta": {"date": date.today().isoformat(), "commit": source_commit(), "device": device_info(device),
                     "versions": versions(),
                     "ceilings": how, "dtype": str(dtype).replace("torch.", ""), "scale": config.scale,
                     "model": {"display": source.display, "dummy": source.dummy, "suppressed_eos": source.eos_ids,
                               **shape_summary(source.shape, bytes_per_value)},
                     "command": config.command, "tag": config.tag, "seed": config.seed, "deadline_s": config.deadline,
                     "jobs": [f"{j.config}/{j.workload}" for j in jobs]},
            "workloads": {}, "rows": [], "skipped": [],
        }
        by_name = {w.name: w for w in workloads}
        for w in workloads:
            run["workloads"][w.name] = describe_workload(w, source.shape, bytes_per_value, ceilings)
        if any(w.family in ("gsm8k", "agents") for w in workloads):
            run["suite_output_means"] = suite_output_means(source.tokenizer, config.data_dir)
        context = Context(config, device, dtype, scale_name=config.scale, source=source, ceilings=ceilings,
                          bytes_per_value=bytes_per_value, families=families, run=run)
        for job in jobs:
            context.measure(job, by_name[job.workload])
            publish(run, by_name[job.workload].family, out_dir, results_md, block)
        for family in {w.family for w in workloads}:
            publish(run, family, out_dir, results_md, block)
        return run
    finally:
        for family in families.values():
            try:
                family.close()
            except Exception:  # noqa: BLE001 - closing must not hide what happened before
                traceback.print_exc()
        free_memory(device)
        source.cleanup()


def publish(run: dict, family: str, out_dir: Path, results_md: Path | None, block: str) -> None:
    add_speedups(run["rows"])
    run["suite"] = suite_estimate(run)
    path = write_json(out_dir, run, family)
    if results_md is not None:
        try:
            tables = render(run) + determinism.tables(run)
        except Exception:  # noqa: BLE001 - the JSON is written; a table bug must not end the run
            tables = f"Rendering the tables failed (the JSON files hold every number):\n\n```\n{traceback.format_exc()}```\n"
            traceback.print_exc()
        replace_block(results_md, block, tables)
    log(f"wrote {path}{f' and {results_md}' if results_md else ''}")


def describe_workload(workload, shape, bytes_per_value, ceilings) -> dict:
    if isinstance(workload, determinism.IdentityWorkload):
        return {"family": workload.family, "description": workload.description, "size": len(workload.items),
                "unit": "problem", "floor": None, "useful_tokens": None}
    if isinstance(workload, AgentWorkload):
        return {"family": workload.family, "description": workload.description, "size": len(workload.problems),
                "unit": "problem", "agents": [r.label for r in workload.runs], "floor": None, "useful_tokens": None}
    return {"family": workload.family, "description": workload.description, "size": len(workload.items),
            "unit": workload.unit, "useful_tokens": workload.useful_tokens,
            "prompt_tokens": sum(workload.prompt_lens),
            "floor": workload_floor(shape, workload.prompt_lens, workload.output_lens, bytes_per_value, ceilings)}


@dataclass
class Context:
    config: BenchConfig
    device: str
    dtype: torch.dtype
    scale_name: str
    source: object
    ceilings: object
    bytes_per_value: int
    families: dict
    run: dict
    unavailable: dict = field(default_factory=dict)  # config -> why it cannot run here

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith("cuda")

    def remaining(self) -> float:
        if self.config.deadline is None:
            return float("inf")
        return self.config.deadline - (time.monotonic() - self.config.started)

    def skip(self, job, reason: str, family: str, agent: str | None = None) -> None:
        log(f"skip {job.config}/{job.workload}{f' {agent}' if agent else ''}: {reason}")
        self.run["skipped"].append({"config": job.config, "workload": job.workload, "family": family,
                                    "agent": agent, "reason": reason})

    def target(self, spec, workload=None):
        """The configuration's target, loading its family (and freeing any other) when needed; a native
        target gets the engine options the workload is defined with."""
        setup = 0.0
        if spec.family not in self.families:
            for name in list(self.families):
                self.families.pop(name).close()
            free_memory(self.device)
            started = time.perf_counter()
            self.families[spec.family] = make_family(spec, self.source, self.device)
            setup = time.perf_counter() - started
        started = time.perf_counter()
        family = self.families[spec.family]
        extra = getattr(workload, "engine_extra", None)
        if extra and isinstance(family, NativeFamily):
            target = family.target(spec, planning.COMPILE_BATCH[self.scale_name], extra)
        else:
            target = family.target(spec, planning.COMPILE_BATCH[self.scale_name])
        return target, round(setup + time.perf_counter() - started, 2)

    def measure(self, job, workload) -> None:
        spec = job.spec
        if job.config in self.unavailable:
            self.skip(job, self.unavailable[job.config], workload.family)
            return
        count = planning.measured_count(spec, workload, self.scale_name)
        if workload.family == "reasoning" and self.config.reasoning_prompts:  # all samples of the first N prompts
            count = min(count, self.config.reasoning_prompts * workload.group)
        if isinstance(workload, determinism.IdentityWorkload):
            estimate = determinism.estimate_seconds(job.config, workload, count, self.on_gpu)
        else:
            estimate = planning.estimate_seconds(spec, workload, count, self.on_gpu)
        if spec.family not in self.families:
            estimate += planning.setup_seconds(spec, self.on_gpu)
        left = self.remaining()
        if estimate > left or left <= 0:
            self.skip(job, f"deadline: estimated {estimate:.0f} s, {max(0.0, left):.0f} s left", workload.family)
            return
        log(f"measure {job.config} on {job.workload} ({count} of "
            f"{len(getattr(workload, 'items', None) or workload.problems)}; estimated {estimate:.0f} s, "
            f"{left:.0f} s left)")
        try:
            try:
                target, setup_s = self.target(spec, workload)
            except Skip as reason:
                self.unavailable[job.config] = str(reason)
                raise
            except Exception as exc:  # noqa: BLE001 - it would fail the same way for its other workloads
                self.unavailable[job.config] = f"could not start: {type(exc).__name__}: {str(exc)[:200]}"
                raise
            batch = getattr(target, "batch", None)
            if isinstance(batch, int) and spec.batch == "auto":
                count = planning.measured_count(spec, workload, self.scale_name, batch)
            if isinstance(workload, determinism.IdentityWorkload):
                determinism.measure(self, job, workload, target, count, setup_s)
            elif isinstance(workload, AgentWorkload):
                self.measure_agents(job, workload, target, count, setup_s)
            else:
                self.measure_batch(job, workload, target, count, setup_s)
        except Skip as reason:
            self.skip(job, str(reason), workload.family)
        except Exception as exc:  # noqa: BLE001 - one broken configuration must not cost the others
            traceback.print_exc()
            self.run["rows"].append({"config": job.config, "workload": job.workload, "family": workload.family,
                                     "error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}"})

    # -- one batch workload --------------------------------------------------------------------------------
    def measure_batch(self, job, workload, target, count: int, setup_s: float) -> None:
        items = workload.items[:count]
        started = time.perf_counter()
        target.warm_up(items)
        warmup_s = round(time.perf_counter() - started, 2)
        before = target.stats()
        monitor = GpuMonitor(self.device)
        reset_peak_memory(self.device)
        monitor.start()
        outcome = target.run(items)
        gpu = monitor.stop()
        after = target.stats()
        expected = [i.max_tokens for i in items]
        useful = sum(outcome.generated)
        tok_s = useful / outcome.wall_s
        floor = self.run["workloads"][workload.name]["floor"]
        if workload.family == "reasoning" and count < len(workload.items):  # the floor of what ran
            floor = workload_floor(self.source.shape, [len(i.prompt_ids) for i in items], expected,
                                   self.bytes_per_value, self.ceilings)
        row = {
            "config": job.config, "workload": workload.name, "family": workload.family, "unit": workload.unit,
            "batch": getattr(target, "batch", None), "measured": count, "total": len(workload.items),
            "extrapolated": count < len(workload.items),
            "useful_tokens": useful, "expected_tokens": sum(expected),
            "forced_lengths_ok": outcome.generated == expected,
            "short_sequences": sum(1 for g, e in zip(outcome.generated, expected) if g != e),
            "prompt_tokens_ok": outcome.prompt_tokens == [len(i.prompt_ids) for i in items],
            "wall_s": round(outcome.wall_s, 4), "tok_s": round(tok_s, 1),
            "problems_per_s": round(count / outcome.wall_s, 4),
            "full_wall_s": round(workload.useful_tokens / tok_s, 4),
            "full_problems_per_s": round(len(workload.items) / (workload.useful_tokens / tok_s), 4),
            "floor_tok_s": floor["floor_tok_s"], "pct_of_floor": round(100 * tok_s / floor["floor_tok_s"], 2),
            "peak_gpu_GB": peak_memory_gb(self.device), **gpu,
            "setup_s": setup_s, "warmup_s": warmup_s, **engine_numbers(before, after),
        }
        if getattr(target, "note", None):
            row["note"] = target.note
        self.run["rows"].append(row)
        log(f"{job.config}/{workload.name}: {tok_s:,.0f} tok/s over {outcome.wall_s:.2f} s "
            f"({row['pct_of_floor']:.1f}% of floor; forced lengths {'ok' if row['forced_lengths_ok'] else 'NOT ok'})")

    # -- the agents workload ---------------------------------------------------------------------------------
    def measure_agents(self, job, workload: AgentWorkload, target, count: int, setup_s: float) -> None:
        from ..agents import AGENTS
        from ..agents.base import AgentParams
        from ..generation import GenerationSettings
        from ..evaluate import EvalConfig, default_concurrency
        from ..prompts import build_messages

        engine = target.agent_engine
        if engine is None:
            raise Skip(f"{job.config} is a reference path over token ids, not an async engine: agents cannot drive it")
        problems = workload.problems[:count]
        first = build_messages(problems[0], "standard")
        started = time.perf_counter()
        target.warm_up([Item(first, [], 4)])
        warmup_s = round(time.perf_counter() - started, 2)
        backend = "transformers" if job.config.startswith("tf-") else job.config.split("-")[0]
        concurrency = default_concurrency(EvalConfig(backend=backend, batch_size=getattr(target, "batch", None)))
        done = []
        for agent_run in workload.runs:
            if agent_run.agent not in AGENTS:
                self.skip(job, f"agent {agent_run.agent!r} is not in matheval.agents.AGENTS in this checkout "
                               "(the agents branch adds it)", workload.family, agent_run.label)
                continue
            params = AgentParams(generation=GenerationSettings(max_new_tokens=max(workload.length_pool)),
                                 **agent_run.params)
            forced = ForcedEngine(engine, self.source.tokenizer, workload.length_pool, workload.filler_ids)
            reset_prefix_cache(engine)
            before = target.stats()
            monitor = GpuMonitor(self.device)
            reset_peak_memory(self.device)
            monitor.start()
            try:
                wall = asyncio.run(drive_agent(AGENTS[agent_run.agent], problems, forced, params, concurrency,
                                               self.config.seed))
            except Exception as exc:  # noqa: BLE001 - one broken agent must not cost the others
                traceback.print_exc()
                self.run["rows"].append({"config": job.config, "workload": workload.name, "family": workload.family,
                                         "agent": agent_run.label, "error": f"{type(exc).__name__}: {exc}"})
                continue
            finally:
                gpu = monitor.stop()
            after = target.stats()
            row = self.agent_row(job, workload, agent_run.label, forced.calls, wall, count, gpu, before, after)
            row.update(setup_s=setup_s, warmup_s=warmup_s, concurrency=concurrency)
            self.run["rows"].append(row)
            done.append(row)
            log(f"{job.config}/agents {agent_run.label}: {row['tok_s']:,.0f} tok/s, {row['problems_per_s']:.3g} "
                f"problems/s")
        if done:
            chosen = [r for r in done if r["agent"] != "standard"] or done
            wall = sum(r["wall_s"] for r in chosen)
            tokens = sum(r["useful_tokens"] for r in chosen)
            floor_s = sum(r["floor_s"] for r in chosen)
            self.run["rows"].append({
                "config": job.config, "workload": workload.name, "family": workload.family, "unit": "problem",
                "agent": "agents (all)", "runs": [r["agent"] for r in chosen], "batch": getattr(target, "batch", None),
                "measured": count, "total": len(workload.problems), "extrapolated": count < len(workload.problems),
                "useful_tokens": tokens, "wall_s": round(wall, 3), "tok_s": round(tokens / wall, 1),
                "problems_per_s": round(count * len(chosen) / wall, 4),
                "pct_of_floor": round(100 * floor_s / wall, 2), "floor_s": round(floor_s, 3),
                "peak_gpu_GB": max((r["peak_gpu_GB"] or 0 for r in chosen), default=None) if self.on_gpu else None,
                "gpu_util_mean": _mean([r.get("gpu_util_mean") for r in chosen]),
                "mean_batch": _mean([r.get("mean_batch") for r in chosen]),
            })

    def agent_row(self, job, workload, label, calls, wall, count, gpu, before, after) -> dict:
        prompts = [c.prompt_tokens for c in calls for _ in range(c.n)]
        outputs = [c.output_tokens for c in calls for _ in range(c.n)]
        generated = [g for c in calls for g in c.generated]
        floor = workload_floor(self.source.shape, prompts, outputs, self.bytes_per_value, self.ceilings)
        useful = sum(generated)
        return {
            "config": job.config, "workload": workload.name, "family": workload.family, "unit": "problem",
            "agent": label, "batch": None, "measured": count, "total": len(workload.problems),
            "extrapolated": count < len(workload.problems), "useful_tokens": useful,
            "expected_tokens": sum(outputs), "forced_lengths_ok": generated == outputs,
            "calls": len(calls), "sequences": len(outputs), "calls_per_problem": round(len(calls) / count, 2),
            "tokens_per_problem": round(sum(outputs) / count, 1), "wall_s": round(wall, 4),
            "tok_s": round(useful / wall, 1), "problems_per_s": round(count / wall, 4),
            "floor_s": floor.get("floor_s", 0.0), "floor_tok_s": floor.get("floor_tok_s"),
            "pct_of_floor": round(100 * (useful / wall) / floor["floor_tok_s"], 2) if floor else None,
            "peak_gpu_GB": peak_memory_gb(self.device), **gpu, **engine_numbers(before, after),
        }


def engine_numbers(before: dict, after: dict) -> dict:
    """What the engine did during the measurement: deltas of its counters, and the mean batch."""
    delta = {k: round(after[k] - before.get(k, 0), 3) for k in after
             if isinstance(after[k], (int, float)) and not isinstance(after[k], bool) and k != "mean_batch"
             and not k.startswith(("native_kv_", "native_block", "native_cuda", "native_mean", "native_startup",
                                   "native_max_num", "native_graph"))}
    if delta.get("native_decode_steps"):
        mean = delta["native_decode_tokens"] / delta["native_decode_steps"]
    elif delta.get("engine_calls"):
        mean = delta.get("batch_rows", 0) / delta["engine_calls"]
    else:
        mean = None
    return {"engine": delta, "mean_batch": round(mean, 1) if mean else None}


def _mean(values):
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 1) if values else None
