"""How much of an evaluation's wall time is the harness (grading, journaling, the run log, the progress
bar, rendering prompts, the event loop and agent code) and how much the engine, for any `matheval`
command run in this process:

    python benchmarks/harness_probe.py --json out.json -- eval --inference_backend native --dataset gsm8k ...
    python benchmarks/harness_probe.py --steps -- agent --agent majority_vote --num_runs 8 ...

It wraps, without changing them: the run's workflows (`evaluate.run_workflows`: wall time and the CPU
time of the thread running the event loop), grading (`runner.grade_attempt`), `Journal.append`,
`RunLog.write`, tqdm's updates, the native engine's prompt encoding (`NativeEngine._request`), the
engine build, and everything after the workflows (answers, metrics files). With `--steps` the native
engine's steps are timed as `native_step_probe.py` does (plan, launch, GPU wait, read back, thread CPU).

The harness share is (the event-loop thread's busy time during the run, i.e. the wall time it spends
outside its selector's wait + the time after the run) / (the run + the time after it): an upper bound,
since that thread delays the engine only while it holds the GIL (its CPU time is reported beside).
A diagnostic, not a benchmark: the wrappers add a few microseconds per call.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import inspect
import json
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
if importlib.util.find_spec("matheval") is None:  # run from a checkout, installed or not; PYTHONPATH may
    sys.path.insert(0, str(HERE.parent))           # point at another version of matheval to compare
sys.path.insert(0, str(HERE))

TIMES: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)
MARKS: dict[str, float] = {}


def timed(owner, name: str, key: str) -> None:
    """Replace owner.name by a wrapper adding its wall time to TIMES[key] (sync or async functions)."""
    original = getattr(owner, name)
    if inspect.iscoroutinefunction(original):
        @functools.wraps(original)
        async def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                TIMES[key] += time.perf_counter() - started
                CALLS[key] += 1
    else:
        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                TIMES[key] += time.perf_counter() - started
                CALLS[key] += 1
    setattr(owner, name, wrapper)


def install(steps: bool) -> None:
    from tqdm import std

    import importlib

    from matheval import results, runner
    from matheval import session as session_module
    from matheval.engines.native import engine as native_engine

    evaluate = importlib.import_module("matheval.evaluate")  # the module (matheval.evaluate is the API function)

    timed(runner, "grade_attempt", "grading")
    timed(results.Journal, "append", "journal")
    timed(results.RunLog, "write", "run_log")
    timed(std.tqdm, "update", "progress")
    timed(std.tqdm, "set_postfix", "progress")
    timed(native_engine.NativeEngine, "_request", "prompt_encoding")
    timed(session_module, "build_engine", "engine_build")

    workflows = evaluate.run_workflows

    async def run_workflows(*args, **kwargs):
        MARKS["run_start"], MARKS["run_cpu_start"] = time.perf_counter(), time.thread_time()
        MARKS["loop_thread"] = threading.get_ident()
        try:
            return await workflows(*args, **kwargs)
        finally:
            MARKS["run_end"], MARKS["run_cpu_end"] = time.perf_counter(), time.thread_time()

    evaluate.run_workflows = run_workflows

    # time the event loop spends waiting in its selector: the rest of the run, it is busy (running
    # callbacks, grading, journaling, or blocked in a call)
    import selectors

    selector = selectors.DefaultSelector
    select = selector.select

    def timed_select(self, timeout=None):
        started = time.perf_counter()
        try:
            return select(self, timeout)
        finally:
            if threading.get_ident() == MARKS.get("loop_thread") and "run_end" not in MARKS:
                TIMES["loop_idle"] += time.perf_counter() - started

    selector.select = timed_select
    original_execute = evaluate.execute

    def execute(prepared, session):
        MARKS["eval_start"] = time.perf_counter()
        try:
            outcome = original_execute(prepared, session)
            MARKS["metrics"] = {k: outcome.row.get(k) for k in ("accuracy", "count", "wall_seconds",
                                                                "tokens_per_second", "completion_tokens")}
            return outcome
        finally:
            MARKS["eval_end"] = time.perf_counter()

    close = native_engine.NativeEngine.close

    def close_and_keep_stats(self):
        if self.core is not None:
            MARKS["native_stats"] = self.native_stats()
            if hasattr(self, "startup_report"):  # (versions before v8 have none)
                MARKS["native_startup"] = self.startup_report()
        close(self)

    native_engine.NativeEngine.close = close_and_keep_stats

    evaluate.execute = execute  # run_eval calls it; evaluate_datasets holds its own name for it
    from matheval import api

    api.execute = execute
    if steps:
        import native_step_probe as probe
        from matheval.engines.native import llm_engine, model_runner, scheduler

        llm_engine.LLMEngine.step = probe.wrap_step(llm_engine.LLMEngine.step)
        llm_engine.LLMEngine._launch = probe.wrap_launch(llm_engine.LLMEngine._launch)
        llm_engine.LLMEngine._read_back = probe.wrap_read_back(llm_engine.LLMEngine._read_back)
        scheduler.Scheduler.schedule = probe.timed(scheduler.Scheduler.schedule, "plan_s")
        model_runner.PendingTokens.result = probe.timed(model_runner.PendingTokens.result, "wait_s")


def summary() -> dict:
    if "run_start" not in MARKS:
        return {"note": "no workflows ran (nothing to evaluate, or the command failed before)"}
    run_s = MARKS["run_end"] - MARKS["run_start"]
    finish_s = MARKS.get("eval_end", MARKS["run_end"]) - MARKS["run_end"]
    loop_cpu = MARKS["run_cpu_end"] - MARKS["run_cpu_start"]
    named = {k: round(TIMES[k], 4) for k in ("grading", "journal", "run_log", "progress", "prompt_encoding")}
    loop_busy = run_s - TIMES["loop_idle"]
    out = {
        "command_s": round(time.perf_counter() - MARKS["probe_start"], 3),
        "load_s": round(MARKS["run_start"] - MARKS.get("eval_start", MARKS["probe_start"]), 3),
        "engine_build_s": round(TIMES["engine_build"], 3),
        "run_s": round(run_s, 3),
        "after_run_s": round(finish_s, 3),
        "event_loop_busy_s": round(loop_busy, 3),  # wall time outside the loop's selector wait
        "event_loop_thread_cpu_s": round(loop_cpu, 3),
        "in_event_loop_thread": {**named,
                                 "other (event loop, agents, asyncio)": round(loop_busy - sum(named.values()), 4)},
        "calls": {k: CALLS[k] for k in named},
        "metrics": MARKS.get("metrics"),
        "native_startup": MARKS.get("native_startup"),
        "native_stats": MARKS.get("native_stats"),
        # the whole event-loop thread's busy time, and the named parts alone (grading, journal, log, progress)
        "harness_share_pct": round(100 * (loop_busy + finish_s) / (run_s + finish_s), 2),
        "harness_named_share_pct": round(100 * (named["grading"] + named["journal"] + named["run_log"]
                                                + named["progress"] + finish_s) / (run_s + finish_s), 2),
    }
    try:
        import native_step_probe as probe

        steps = {kind: dict(row) for kind, row in probe.TOTALS.items()}
        if steps:
            out["engine_steps"] = steps
            busy = sum(row["wall_s"] for row in steps.values())
            out["engine_busy_s"] = round(busy, 3)
            out["engine_idle_in_run_s"] = round(run_s - busy, 3)
    except ImportError:
        pass
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", default=None, help="write the numbers here")
    parser.add_argument("--steps", action="store_true", help="also time the native engine's steps")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then a matheval command and its flags")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    MARKS["probe_start"] = time.perf_counter()
    install(args.steps)
    from matheval.cli import main as matheval_main

    code = matheval_main(command)
    import matheval

    numbers = {"command": command, "matheval": str(Path(matheval.__file__).resolve().parent), **summary()}
    print("[harness] " + json.dumps(numbers), flush=True)
    if args.steps:
        import native_step_probe as probe

        probe.report()
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(numbers, indent=1) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
