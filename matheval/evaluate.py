"""One evaluation, from settings to result files: the function behind `matheval eval` and `agent`.

Kept out of the CLI so tests and scripts call exactly what users run.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from . import models
from .agents.base import Agent, AgentParams, Tools, check_params, needs_sandbox, uses_verifier
from .data import load_examples, load_problems
from .engines import EngineOptions, EngineStats, build_engine, ignored_options, resolve_model
from .engines.base import ReplicasExhausted
from .errors import Interrupted, UserError
from .interrupt import exit_on_ctrl_c
from .metrics import Summary, summarize
from .prompts import DEFAULT_FEWSHOT_K, MODES
from .results import (Journal, RunLog, RunPaths, append_metrics_row, ensure_writable, metrics_row, run_paths,
                      write_answers, write_metrics_txt)
from .runner import RunSpec, ordered_records, run_workflows


@dataclass
class EvalConfig:
    model: str = models.DEFAULT_MODEL
    round: str = "run"
    dataset: str = "synthetic"
    count: int | None = None
    mode: str = "standard"  # prompt mode of the (first) answer
    agent: str = "standard"  # "standard" is the plain evaluation
    backend: str = "transformers"
    batch_size: int | str | None = None  # None: not given (the transformers backend then runs batch 1)
    data_dir: str | None = None
    results_dir: str = "results"
    seed: int = 0
    detailed: bool = False
    concurrency: int | None = None
    runs: int = 1
    fewshot_k: int = DEFAULT_FEWSHOT_K
    device: str | None = None
    dtype: str | None = None
    params: AgentParams = field(default_factory=AgentParams)
    engine_extra: dict = field(default_factory=dict)
    progress: bool = True
    data_parallel: int | str | None = None  # engine replicas (one per GPU, or a share of the cores); None: in process
    ray_address: str | None = None  # place the replicas on this Ray cluster

    @property
    def label(self) -> str:
        """What the result files call this configuration: the prompt mode, or the agent's name."""
        return self.mode if self.agent == "standard" else self.agent


@dataclass
class Outcome:
    paths: RunPaths
    summary: Summary
    row: dict
    new_problems: int
    records: list[dict] = field(default_factory=list)  # per (problem, run), in dataset order

    @property
    def metrics(self) -> dict:
        """The run's metrics.csv row: accuracy, interval, tokens, engine statistics."""
        return self.row

    @property
    def folder(self) -> Path:
        return Path(self.paths.folder)


def resolve_agent(name: str) -> Agent:
    from .agents import AGENTS

    if name not in AGENTS:
        raise UserError(f"unknown agent {name!r}: use one of {', '.join(AGENTS)}")
    return AGENTS[name]


def resolve_verifier(backend: str, name: str) -> models.ModelRef:
    """The judge model, resolved before anything loads, so that a bad name costs nothing."""
    try:
        return resolve_model(backend, name)
    except UserError as exc:
        raise UserError(f"--verifier: {exc}") from None


def run_eval(config: EvalConfig) -> Outcome:
    """Load, generate, grade, journal, and write the seed's files. Safe to rerun: it resumes."""
    if config.mode not in MODES:
        raise UserError(f"unknown --mode {config.mode!r}: use one of {', '.join(MODES)}")
    if config.detailed and (config.data_parallel or config.ray_address):
        raise UserError("--detailed streams one problem at a time: drop --data_parallel / --ray_address")
    agent = resolve_agent(config.agent)
    model = resolve_model(config.backend, config.model)
    problems = load_problems(config.dataset, data_dir=config.data_dir, count=config.count)
    if not problems:
        raise UserError(f"dataset {config.dataset} has no problems to evaluate")
    params = config.params
    params.mode = config.mode
    if params.verifier and not uses_verifier(agent):
        raise UserError(f"--verifier is not used by agent {config.agent!r}: drop it, or use --agent best_of_n")
    check_params(agent, params)
    verifier = resolve_verifier(config.backend, params.verifier) if params.verifier else None
    if config.mode == "fewshot" and not params.examples:
        params.examples = load_examples(config.dataset, config.fewshot_k, data_dir=config.data_dir)

    paths = run_paths(config.results_dir, config.round, model.display, config.dataset, len(problems), config.label)
    fresh_folder = not paths.folder.exists()
    ensure_writable(paths.folder)
    # The backend is part of a run's identity: answers from two engines are never mixed in one file.
    identity = {"model": model.display, "dataset": config.dataset, "count": len(problems), "agent": config.agent,
                "backend": config.backend,
                "seed": config.seed, "runs": config.runs, "params": params.identity()}
    journal = Journal(paths.journal, identity)
    log = RunLog(paths.log)
    resumed = len(journal.records)
    total = len(problems) * config.runs
    spec = RunSpec(problems, agent, params, seed=config.seed, runs=config.runs,
                   concurrency=config.concurrency or default_concurrency(config),
                   keep_trace=config.agent != "standard")
    log.write(f"start model={model.display} dataset={config.dataset} count={len(problems)} mode={config.label} "
              f"backend={config.backend} batch_size={batch_label(config)} seed={config.seed} resumed={resumed}/{total}")
    if resumed:
        print(f"matheval: resuming {paths.folder}: {resumed}/{total} problems already done", file=sys.stderr)

    started = time.perf_counter()
    new_tokens = 0
    engine = None
    tools = Tools()
    try:
        if resumed < total:
            if needs_sandbox(agent):  # started first: its zygote imports sympy while the model loads
                from .sandbox import SandboxPool

                tools.sandbox = SandboxPool()
            options = EngineOptions(batch_size=config.batch_size, device=config.device, dtype=config.dtype,
                                    seed=config.seed, max_new_tokens=params.generation.max_new_tokens,
                                    extra=dict(config.engine_extra))
            for note in ignored_options(config.backend, options):
                log.write(f"note: {note}")
                print(f"matheval: note: {note}", file=sys.stderr)
            def stop_while_loading() -> Interrupted:
                done = len(journal.records)
                log.write(f"interrupted while loading the model after {done}/{total} problems")
                journal.close()
                log.close()
                if tools.sandbox is not None:
                    tools.sandbox.close()
                if fresh_folder and not done:
                    shutil.rmtree(paths.folder, ignore_errors=True)
                return Interrupted(interrupted_message(done, total, paths.folder))

            def say(line: str) -> None:
                log.write(line)
                print(f"matheval: {line}", file=sys.stderr, flush=True)

            with exit_on_ctrl_c(stop_while_loading):
                engine = build_engine(config.backend, model, options, config.data_parallel, config.ray_address, say)
                if params.verifier:
                    tools.engines["verifier"] = build_engine(config.backend, verifier, options, config.data_parallel,
                                                             config.ray_address, say)
            log.write(f"model loaded in {time.perf_counter() - started:.1f}s")
            startup_report = getattr(engine, "startup_report", None)  # backends that break their start-up down
            if startup_report is not None:
                log.write(startup_report())
            replicas = len(getattr(engine, "replicas", ())) or 1
            if config.concurrency is None and replicas > 1:
                spec.concurrency *= replicas  # each replica gets what one engine would
            spec.tools = tools
            if config.detailed and hasattr(engine, "enable_streaming"):
                engine.enable_streaming()  # tokens printed as they come, where the backend can
            started = time.perf_counter()
            bar = tqdm(total=total, initial=resumed, desc=f"{config.dataset}/{config.label}", unit="problem",
                       disable=not config.progress or config.detailed, dynamic_ncols=True)
            tally = {"correct": sum(1 for r in journal.records.values() if r["correct"]), "done": resumed}

            def on_record(record: dict) -> None:
                nonlocal new_tokens
                new_tokens += record["completion_tokens"]
                tally["done"] += 1
                tally["correct"] += int(record["correct"])
                log.write(f"{record['id']} run={record['run']} correct={record['correct']} "
                          f"extracted={record['extracted']!r} gold={record['gold']!r} "
                          f"tokens={record['tokens']} seconds={record['seconds']}")
                elapsed = time.perf_counter() - started
                bar.set_postfix(acc=f"{tally['correct'] / tally['done']:.1%}", tok_s=f"{new_tokens / elapsed:.1f}")
                bar.update(1)
                if config.detailed:
                    mark = "correct" if record["correct"] else "wrong"
                    print(f"\n[{tally['done']}/{total}] {mark}: extracted {record['extracted']!r}, gold {record['gold']!r}\n")

            try:
                asyncio.run(run_workflows(spec, engine, journal, on_record,
                                          on_start=print_problem if config.detailed else None))
            finally:
                bar.close()
        wall = time.perf_counter() - started
        if engine is not None and getattr(engine, "startup_report", None) is not None:
            log.write(engine.startup_report())  # now with the run's first prefill and decode round
        records = ordered_records(spec, journal)
        summary = summarize(records)
        row = metrics_row(summary, model=model.display, dataset=config.dataset, mode=config.label,
                          backend=config.backend, batch_size=batch_label(config), round_name=config.round,
                          seed=config.seed, wall_seconds=wall, new_tokens=new_tokens, resumed=resumed,
                          engine=combined_stats([engine, *tools.engines.values()]) if engine else {},
                          num_runs=params.num_runs)
        if engine is not None and hasattr(engine, "replica_summaries"):
            row["data_parallel"] = len(engine.replicas)
            row["replicas"] = engine.replica_summaries()
            for each in row["replicas"]:
                log.write(f"replica {each['replica']} ({each['where']}): {each['problems']} problems, "
                          f"{each['completion_tokens']} tokens, {each['tokens_per_second']} tok/s")
        write_answers(paths, records)
        if resumed < total:
            append_metrics_row(paths, row)
        write_metrics_txt(paths, row, summary)
        log.write(f"done accuracy={summary.accuracy:.4f} correct={summary.correct}/{summary.count} wall={wall:.1f}s")
        return Outcome(paths, summary, row, total - resumed, records)
    except BaseException as exc:
        done = len(journal.records)
        if isinstance(exc, KeyboardInterrupt):  # Ctrl-C while loading or generating: say what is kept
            log.write(f"interrupted after {done}/{total} problems")
        if fresh_folder and not done:  # failed before anything was computed: leave no trace
            journal.close()
            log.close()
            shutil.rmtree(paths.folder, ignore_errors=True)
        if isinstance(exc, KeyboardInterrupt):
            raise Interrupted(interrupted_message(done, total, paths.folder)) from None
        if isinstance(exc, ReplicasExhausted):
            log.write(f"stopped: {exc} after {done}/{total} problems")
            raise UserError(f"{exc}: {done}/{total} problems are saved in {paths.folder}; check the log, then "
                            "rerun the same command to continue (any --data_parallel)") from None
        raise
    finally:
        journal.close()
        log.close()
        for each in [engine, *tools.engines.values()]:
            if each is not None:
                each.close()
        if tools.sandbox is not None:
            tools.sandbox.close()


def interrupted_message(done: int, total: int, folder) -> str:
    """What a stopped run kept and how to go on."""
    if done:
        return f"interrupted: {done}/{total} problems are saved in {folder}; rerun the same command to continue"
    return f"interrupted: 0/{total} problems had finished, nothing to keep; rerun the same command to start again"


def combined_stats(engines) -> dict:
    """The engine statistics of a run, summed over its engines (the model and a separate verifier)."""
    total = EngineStats()
    for engine in engines:
        stats = engine.stats
        total.calls += stats.calls
        total.requests += stats.requests
        total.sequences += stats.sequences
        total.batch_rows += stats.batch_rows
        total.prompt_tokens += stats.prompt_tokens
        total.completion_tokens += stats.completion_tokens
        total.busy_seconds += stats.busy_seconds
        total.max_batch = max(total.max_batch, stats.max_batch)
    return total.as_dict()


# Engines that schedule their own batches (up to 256 sequences by default) are only full when more work is
# waiting than they run: an agent call in its last tokens, or a workflow between two rounds, leaves its slot
# to the next problem. 64 problems in flight left the native engine's batch 15-43% full on the agents
# workload (mean batch 39-109 of 256, benchmarks/RESULTS.md).
CONTINUOUS_CONCURRENCY = 512


def default_concurrency(config: EvalConfig) -> int:
    """Enough concurrent workflows to fill batches; one at a time for the seed's batch-1 path."""
    if config.detailed:
        return 1
    if config.backend != "transformers":  # every other backend schedules its own batches
        return CONTINUOUS_CONCURRENCY
    size = batch_label(config)
    if size == 1:
        return 1
    return max(64, 2 * (size if isinstance(size, int) else 64))


def batch_label(config: EvalConfig) -> int | str:
    """--batch_size as the results record it (1 when not given, as the seed's single-sample default)."""
    return 1 if config.batch_size is None else config.batch_size


def print_problem(problem, run: int) -> None:
    print(f"\n=== {problem.id} (run {run}) ===\n{problem.question}\n--- response ---", flush=True)


def describe(outcome: Outcome) -> str:
    s = outcome.summary
    text = (f"accuracy {s.accuracy:.2%} ({s.correct}/{s.count}, 95% CI {s.ci_low:.1%}-{s.ci_high:.1%}), "
            f"{s.tokens_per_problem:.0f} tokens/problem")
    if s.maj_at_n is not None:
        text += f", maj@{s.num_samples} {s.maj_at_n:.2%}, pass@{s.num_samples} {s.pass_at_n:.2%}"
    return f"{text} -> {Path(outcome.paths.folder)}"
