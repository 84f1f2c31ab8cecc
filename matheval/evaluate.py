"""One evaluation, from settings to result files: the function behind `matheval eval` and `agent`.

Kept out of the CLI so tests and scripts call exactly what users run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import manifest, models
from .agents.base import Agent, AgentParams, Tools, check_params, needs_sandbox, uses_verifier
from .data import FieldMap, dataset_name, fingerprint, is_benchmark, is_file_dataset, load_examples, load_problems
from .engines import EngineStats, resolve_model
from .engines import backend as find_backend
from .engines.base import ReplicasExhausted
from .grading.graders import get_grader
from .errors import Interrupted, UserError
from .interrupt import exit_on_ctrl_c, sigterm_as_ctrl_c
from .metrics import Summary, summarize
from .anchors import comparison_lines
from .progress import Progress
from .prompts import DEFAULT_FEWSHOT_K, MODES
from .protocol import ProtocolCheck, check_protocol
from .results import (Journal, RunLog, RunPaths, append_metrics_row, ensure_writable, metrics_row, run_paths,
                      sampled_lines, write_answers, write_metrics_json, write_metrics_txt)
from .runner import RunSpec, ordered_records, run_workflows
from .session import Session, check_model_source


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
    engine_extra: dict = field(default_factory=dict)  # the backend's own options (--engine_args, backend flags)
    progress: bool = True
    threads: int | None = None  # torch threads; None: the cores free to this process (matheval.threads)
    limit: int | None = None  # a seeded random subset of this many problems (instead of the first --count)
    sample_seed: int | None = None
    dataset_fields: FieldMap | None = None  # where a file given as --dataset keeps question, answer, id
    command: str | None = None  # how the run was started (recorded in the manifest, not a setting)
    data_parallel: int | str | None = None  # engine replicas (one per GPU, or a share of the cores); None: in process
    ray_address: str | None = None  # place the replicas on this Ray cluster
    grader: str = "matheval"  # who decides `correct`: matheval, math-verify, lm-eval (grading.graders)
    pass_k: tuple[int, ...] | None = None  # the k of pass@k / cons@k (None: 1, 2, 4, ..., N)
    sampling_flags: set[str] = field(default_factory=set)  # sampling values the user set (not the preset's)

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
    anchors: list[str] = field(default_factory=list)  # published numbers beside ours (matheval.anchors)

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


@dataclass
class Prepared:
    """One evaluation with everything checked that can be checked before a model loads."""

    config: EvalConfig
    agent: Agent
    model: models.ModelRef
    dataset: str  # the name result folders and tables use
    problems: list
    verifier: models.ModelRef | None
    paths: RunPaths
    identity: dict
    protocol: ProtocolCheck  # the tokenizer's counter, the chat template's kwargs, notes (matheval.protocol)


def prepare(config: EvalConfig) -> Prepared:
    """Resolve and check the agent, model, problems and settings; choose the folder. Loads no model."""
    if config.mode not in MODES:
        raise UserError(f"unknown --mode {config.mode!r}: use one of {', '.join(MODES)}")
    if config.detailed and (config.data_parallel or config.ray_address):
        raise UserError("--detailed streams one problem at a time: drop --data_parallel / --ray_address")
    agent = resolve_agent(config.agent)
    get_grader(config.grader)  # an unknown grader or a missing lm-eval fails here, before the model loads
    model = resolve_model(config.backend, config.model)
    problems = load_problems(config.dataset, data_dir=config.data_dir, count=config.count,
                             fields=config.dataset_fields, limit=config.limit, sample_seed=config.sample_seed)
    if not problems:
        raise UserError(f"dataset {config.dataset} has no problems to evaluate")
    dataset = dataset_name(config.dataset, config.limit, config.sample_seed)
    params = config.params
    params.mode = config.mode
    if params.verifier and not uses_verifier(agent):
        raise UserError(f"--verifier is not used by agent {config.agent!r}: drop it, or use --agent best_of_n")
    check_params(agent, params)
    verifier = resolve_verifier(config.backend, params.verifier) if params.verifier else None
    if config.mode == "fewshot" and not params.examples:
        params.examples = load_examples(config.dataset, config.fewshot_k, data_dir=config.data_dir)
    if not find_backend(config.backend).remote:
        check_model_source(model)  # a hub model out of reach fails now, before its tokenizer is looked for
    protocol = check_protocol(model, params, problems, dataset, config.agent, config.engine_extra,
                              config.sampling_flags, config.pass_k)
    paths = run_paths(config.results_dir, config.round, model.display, dataset, len(problems), config.label,
                      backend=config.backend)
    # The backend is part of a run's identity: answers from two engines are never mixed in one file.
    identity = {"model": model.display, "dataset": dataset, "count": len(problems), "agent": config.agent,
                "backend": config.backend, "seed": config.seed, "runs": config.runs, "params": params.identity()}
    if config.limit is not None:
        identity["sample_seed"] = config.sample_seed or 0
    if is_file_dataset(config.dataset) and not is_benchmark(config.dataset):  # two files, one name: never mixed
        identity["dataset_file"] = fingerprint(Path(config.dataset).expanduser())[:16]
    # Settings that change the tokens: recorded only when given, so journals written before them still resume.
    for name, value in (("dtype", config.dtype), ("deterministic", config.engine_extra.get("deterministic"))):
        if value:
            identity[name] = value
    if config.grader != "matheval":  # verdicts of two graders are never mixed in one file
        identity["grader"] = config.grader
    return Prepared(config, agent, model, dataset, problems, verifier, paths, identity, protocol)


def session_for(p: Prepared) -> Session:
    """The session a run loads its model into when the caller brings none."""
    config = p.config
    return Session(config.model, config.backend, batch_size=config.batch_size, device=config.device,
                   dtype=config.dtype, seed=config.seed, max_new_tokens=config.params.generation.max_new_tokens,
                   threads=config.threads, engine_options=config.engine_extra, data_parallel=config.data_parallel,
                   ray_address=config.ray_address, chat_template_kwargs=p.protocol.template_kwargs)


def check_session(p: Prepared, session: Session) -> None:
    """A caller's session must be the model and backend the settings name, rendering prompts as the preset
    asks (Qwen3's enable_thinking): a session not yet loaded takes the run's template arguments."""
    config, wanted = p.config, p.protocol.template_kwargs
    if session.backend != config.backend or resolve_model(config.backend, config.model).path != session.model.path:
        raise UserError(f"engine= holds {session.model.display} on {session.backend}, but the evaluation asks for "
                        f"{config.model} on {config.backend}: load that model, or leave model/backend unset")
    if session.options.chat_template_kwargs != wanted:
        if session.loaded:
            raise UserError(f"the {config.params.preset.name} preset renders prompts with chat template arguments "
                            f"{wanted}, but the session's engine was loaded with "
                            f"{session.options.chat_template_kwargs}: load a session for this preset")
        session.options.chat_template_kwargs = dict(wanted)


def run_eval(config: EvalConfig, session: Session | None = None) -> Outcome:
    """Load, generate, grade, journal, and write the seed's files. Safe to rerun: it resumes. With a
    `session`, its loaded model is used and left loaded."""
    prepared = prepare(config)
    owned = session is None
    session = session or session_for(prepared)
    try:
        return execute(prepared, session)
    finally:
        if owned:
            session.close()


def execute(p: Prepared, session: Session) -> Outcome:
    """Run one prepared evaluation on a session's engine."""
    config, paths, params = p.config, p.paths, p.config.params
    check_session(p, session)
    session.check()  # a CUDA device torch cannot use, a hub model with no network: one line, now
    fresh_folder = not paths.folder.exists()
    ensure_writable(paths.folder)
    journal = Journal(paths.journal, p.identity)
    log = RunLog(paths.log)
    resumed = len(journal.records)
    total = len(p.problems) * config.runs
    spec = RunSpec(p.problems, p.agent, params, seed=config.seed, runs=config.runs,
                   concurrency=config.concurrency or default_concurrency(config),
                   keep_trace=config.agent != "standard", grader=config.grader,
                   count_reasoning=config.agent == "standard" and p.protocol.tokens is not None)
    log.write(f"start model={p.model.display} dataset={p.dataset} count={len(p.problems)} mode={config.label} "
              f"backend={config.backend} batch_size={batch_label(config)} seed={config.seed} resumed={resumed}/{total}")
    for note in p.protocol.notes:
        log.write(note)
        if not note.startswith("protocol:") or (resumed < total and not plain_protocol(params)):
            print(f"matheval: {note}", file=sys.stderr)
    if resumed:
        print(f"matheval: resuming {paths.folder}: {resumed}/{total} problems already done", file=sys.stderr)
    invocation = {"started": manifest.now(), "resumed": resumed, "command": config.command}
    started = time.perf_counter()
    new_tokens = 0
    engines: list = []
    tools = Tools(tokens=p.protocol.tokens)

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

    try:
        with sigterm_as_ctrl_c():
            if resumed < total:
                if needs_sandbox(p.agent):  # started first: its zygote imports sympy while the model loads
                    from .sandbox import SandboxPool

                    tools.sandbox = SandboxPool()
                for note in session.notes:
                    log.write(f"note: {note}")
                    print(f"matheval: note: {note}", file=sys.stderr)
                session.notes.clear()
                def say(line: str) -> None:
                    log.write(line)
                    print(f"matheval: {line}", file=sys.stderr, flush=True)

                session.say = say  # data parallelism tells where its replicas went
                with exit_on_ctrl_c(stop_while_loading):
                    loading = not session.loaded
                    engine = session.engine()
                    if p.verifier is not None:
                        tools.engines["verifier"] = session.engine(p.verifier)
                engines = [engine, *tools.engines.values()]
                if loading:
                    log.write(f"model loaded in {time.perf_counter() - started:.1f}s")
                    startup_report = getattr(engine, "startup_report", None)  # backends that break start-up down
                    if startup_report is not None:
                        log.write(startup_report())
                replicas = len(getattr(engine, "replicas", ())) or 1
                if config.concurrency is None and replicas > 1:
                    spec.concurrency *= replicas  # each replica gets what one engine would
                if session.plan is not None:
                    log.write(session.plan.describe())
                    if session.plan.crowded:
                        print(f"matheval: note: {session.plan.describe()}", file=sys.stderr)
                write_manifest(p, session, "running")
                age = process_age()
                if age is not None:  # the share of a short run's wall time that is not generation
                    log.write(f"process start-up: {age:.1f}s from the command's start to the first problem "
                              "(interpreter, imports, data, checks, model load)")
                spec.tools = tools
                if config.detailed and hasattr(engine, "enable_streaming"):
                    engine.enable_streaming()  # tokens printed as they come, where the backend can
                started = time.perf_counter()
                new_tokens = session.run(generate(p, spec, engine, journal, log, engines))
        wall = time.perf_counter() - started
        if engines and getattr(engines[0], "startup_report", None) is not None:
            log.write(engines[0].startup_report())  # now with the run's first prefill and decode round
        records = ordered_records(spec, journal)
        summary = summarize(records, config.pass_k)
        settings = manifest.settings_of(config)
        row = metrics_row(summary, model=p.model.display, dataset=p.dataset, mode=config.label,
                          backend=config.backend, batch_size=session.resolved().get("batch_size", batch_label(config))
                          if engines else batch_label(config), round_name=config.round,
                          seed=config.seed, wall_seconds=wall, new_tokens=new_tokens, resumed=resumed,
                          engine=combined_stats(engines) if engines else {}, num_runs=params.num_runs,
                          settings=settings, preset=params.preset.name)
        anchors = comparison_lines([p.model.hub_id, p.model.display, config.model], p.dataset, params.preset.name,
                                   config.agent, summary, params.generation, params.num_samples)
        engine = engines[0] if engines else None
        if engine is not None and hasattr(engine, "replica_summaries"):
            row["data_parallel"] = len(engine.replicas)
            row["replicas"] = engine.replica_summaries()
            for each in row["replicas"]:
                log.write(f"replica {each['replica']} ({each['where']}): {each['problems']} problems, "
                          f"{each['completion_tokens']} tokens, {each['tokens_per_second']} tok/s")
        write_answers(paths, records)
        if resumed < total:
            append_metrics_row(paths, row)
            write_manifest(p, session if engines else None, "finished",
                           dict(invocation, wall_seconds=round(wall, 3), new_problems=total - resumed,
                                ended="finished"))
        write_metrics_txt(paths, row, summary, anchors)
        write_metrics_json(paths, row)
        log.write(f"done accuracy={summary.accuracy:.4f} correct={summary.correct}/{summary.count} wall={wall:.1f}s")
        for line in sampled_lines(summary, anchors):
            log.write(line)
        return Outcome(paths, summary, row, total - resumed, records, anchors)
    except BaseException as exc:
        done = len(journal.records)
        interrupted = isinstance(exc, KeyboardInterrupt)
        if interrupted:  # Ctrl-C or SIGTERM while loading or generating: say what is kept
            log.write(f"interrupted after {done}/{total} problems")
            session.close_engines()  # its batch in flight is aborted; a kept session loads again when next used
        if fresh_folder and not done:  # failed before anything was computed: leave no trace
            journal.close()
            log.close()
            shutil.rmtree(paths.folder, ignore_errors=True)
        elif paths.folder.exists():
            ended = "interrupted" if interrupted else "failed"
            write_manifest(p, session if engines else None, ended,
                           dict(invocation, wall_seconds=round(time.perf_counter() - started, 3),
                                new_problems=done - resumed, ended=ended))
        if interrupted:
            raise Interrupted(interrupted_message(done, total, paths.folder)) from None
        if isinstance(exc, ReplicasExhausted):
            log.write(f"stopped: {exc} after {done}/{total} problems")
            raise UserError(f"{exc}: {done}/{total} problems are saved in {paths.folder}; check the log, then "
                            "rerun the same command to continue (any --data_parallel)") from None
        raise
    finally:
        journal.close()
        log.close()
        if tools.sandbox is not None:
            tools.sandbox.close()


async def generate(p: Prepared, spec: RunSpec, engine, journal: Journal, log: RunLog, engines: list) -> int:
    """The workflows of one run, with the progress line ticking beside them; returns the tokens generated."""
    config = p.config
    tally = {"correct": sum(1 for r in journal.records.values() if r["correct"]), "new_tokens": 0}
    progress = Progress(len(p.problems) * config.runs, len(journal.records), tally["correct"],
                        f"{p.dataset}/{config.label}", engines, config.progress and not config.detailed)
    total = progress.bar.total

    def on_record(record: dict) -> None:
        tally["new_tokens"] += record["completion_tokens"]
        log.write(f"{record['id']} run={record['run']} correct={record['correct']} "
                  f"extracted={record['extracted']!r} gold={record['gold']!r} "
                  f"tokens={record['tokens']} seconds={record['seconds']}")
        progress.finished_one(bool(record["correct"]))
        if config.detailed:
            mark = "correct" if record["correct"] else "wrong"
            print(f"\n[{progress.done}/{total}] {mark}: extracted {record['extracted']!r}, gold {record['gold']!r}\n")

    if spec.tools is not None:  # a judge model's calls are in flight too
        spec.tools = dataclasses.replace(spec.tools, engines={name: progress.watch(each)
                                                              for name, each in spec.tools.engines.items()})
    ticker = asyncio.ensure_future(progress.tick())
    try:
        await run_workflows(spec, progress.watch(engine), journal, on_record,
                            on_start=print_problem if config.detailed else None)
    finally:
        ticker.cancel()
        progress.close()
    return tally["new_tokens"]


def write_manifest(p: Prepared, session: Session | None, status: str, invocation: dict | None = None) -> None:
    """The configuration's manifest entry: settings as resolved, sources, environment (matheval.manifest)."""
    config = p.config
    changes: dict = {"status": status, "files": {"answers": p.paths.answers.name, "journal": p.paths.journal.name,
                                                  "log": p.paths.log.name, "metrics": p.paths.metrics_txt.name}}
    if session is not None:
        options = session.options
        resolved = dict(session.resolved(), concurrency=config.concurrency or default_concurrency(config))
        changes.update(
            settings=manifest.settings_of(config), resolved=resolved,
            engine={"backend": session.backend, "options": {"batch_size": options.batch_size, "device": options.device,
                                                             "dtype": options.dtype, "seed": options.seed,
                                                             "max_new_tokens": options.max_new_tokens,
                                                             **options.extra}},
            model={"name": config.model, "display": p.model.display, "path": p.model.path, "hub_id": p.model.hub_id,
                   "packaged": p.model.packaged},
            dataset=manifest.dataset_source(config, p.dataset, p.problems),
            prompt=manifest.prompt_template(config.mode, config.params.examples, config.agent),
            environment=manifest.environment(resolved.get("device")))
        if session.plan is not None:
            changes["environment"]["threads"] = session.plan.describe()
    entry = manifest.read_entry(p.paths.folder, p.paths.stem) or {}
    if invocation is not None:
        changes["invocations"] = list(entry.get("invocations") or []) + [invocation]
    manifest.update_entry(p.paths.folder, p.paths.stem, changes)


def process_age() -> float | None:
    """Seconds since this process started (Linux: /proc/self/stat), None where that cannot be read."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start time after boot, in ticks
        return time.clock_gettime(time.CLOCK_BOOTTIME) - started
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def plain_protocol(params: AgentParams) -> bool:
    """matheval's own preset, one sample, no budget curve: the protocol line goes to the log only."""
    return (params.preset.name == "matheval" and params.num_samples == 1 and not params.budgets
            and params.preset.identity() == AgentParams().preset.identity())


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
# workload (mean batch 39-109 of 256, benchmarks/history/2026-11-23.md).
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
    """The run's summary for the terminal: the seed's one line, then for sampled or reasoning runs the
    lines of metrics_<mode>.txt that go with it (avg@N, pass@k, cons@k, truncation, budget, anchors)."""
    s = outcome.summary
    text = (f"accuracy {s.accuracy:.2%} ({s.correct}/{s.count}, 95% CI {s.ci_low:.1%}-{s.ci_high:.1%}), "
            f"{s.completion_tokens_per_problem:.0f} generated + {s.prompt_tokens_per_problem:.0f} prompt tokens/problem")
    if s.maj_at_n is not None:
        text += f", maj@{s.num_samples} {s.maj_at_n:.2%}, pass@{s.num_samples} {s.pass_at_n:.2%}"
    if s.truncated:
        finished = "n/a" if s.finished_accuracy is None else f"{s.finished_accuracy:.1%}"
        text += f", {s.truncation_rate:.0%} of responses truncated (accuracy over the finished: {finished})"
    extra = sampled_lines(s, outcome.anchors) if (s.num_samples or s.budget_curve or outcome.anchors) else []
    return "\n".join([f"{text} -> {Path(outcome.paths.folder)}", *extra])
