"""Where an engine step's wall time goes on a workload: planning, launching, waiting for the GPU,
reading tokens back, GPU time, and whether the engine thread had the CPU (thread CPU time) or waited for
the GIL while the agents' event loop ran. Wraps the native engine's methods, then runs `matheval bench`
in-process.

    python benchmarks/native_step_probe.py --configs native --workload agents ... (matheval bench flags)

A step plans and launches one model step (prefill or a decode round) and, with asynchronous scheduling,
then reads back the step launched before it. Rows are by the kind of step launched; `wait` and `read`
belong to the step read back. GPU time of a step is the time from the end of the previous step (or its
own launch, if later) to its end, so `wall - GPU` is time the GPU sat idle. Prints one summary line per
step kind at exit. A diagnostic, not a benchmark: timing calls add a little. With PROBE_CPROFILE=N in
the environment, the engine steps also run under cProfile and the N functions with the most own time are
printed per measurement (this slows the host work down about twofold).
"""

from __future__ import annotations

import atexit
import cProfile
import io
import os
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, installed or not
from matheval.cli import main  # noqa: E402
from matheval.engines.native import llm_engine, model_runner, scheduler  # noqa: E402

TOTALS: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
CURRENT: dict = {}
LAST_END: list = [None]  # the end event of the latest launched step
PROFILE_ROWS = int(os.environ.get("PROBE_CPROFILE", "0"))
PROFILER = [cProfile.Profile()] if PROFILE_ROWS else []


def add(key: str, value: float) -> None:
    CURRENT[key] = CURRENT.get(key, 0.0) + value


def timed(original, key: str):
    def run(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            add(key, time.perf_counter() - t0)
    return run


def wrap_step(original):
    def step(self):
        wall0, cpu0 = time.perf_counter(), time.thread_time()
        CURRENT.clear()
        if PROFILER:
            PROFILER[0].enable()
        original(self)
        if PROFILER:
            PROFILER[0].disable()
        row = TOTALS[CURRENT.get("kind", "read-only")]
        row["steps"] += 1
        row["wall_s"] += time.perf_counter() - wall0
        row["thread_cpu_s"] += time.thread_time() - cpu0
        for key in ("plan_s", "launch_s", "wait_s", "read_s", "tokens", "seqs"):
            row[key] += CURRENT.get(key, 0.0)
    return step


def wrap_launch(original):
    def launch(self, seqs, *args):
        gpu = torch.cuda.is_available()
        if gpu:
            start = torch.cuda.Event(enable_timing=True)
            start.record()
        before = self.counters["prefill_tokens"] + self.counters["decode_tokens"]
        t0 = time.perf_counter()
        pending = original(self, seqs, *args)
        add("launch_s", time.perf_counter() - t0)
        tokens = self.counters["prefill_tokens"] + self.counters["decode_tokens"] - before
        CURRENT.update(kind=pending.kind, seqs=len(seqs), tokens=tokens)
        if gpu:
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            pending.probe = (start, end, LAST_END[0], pending.kind)
            LAST_END[0] = end
        return pending
    return launch


def wrap_read_back(original):
    def read_back(self, pending):
        t0 = time.perf_counter()
        wait0 = CURRENT.get("wait_s", 0.0)
        original(self, pending)
        add("read_s", time.perf_counter() - t0 - (CURRENT.get("wait_s", 0.0) - wait0))
        probe = getattr(pending, "probe", None)
        if probe is not None:
            start, end, previous, kind = probe
            gpu = start.elapsed_time(end)
            if previous is not None:
                gpu = min(gpu, previous.elapsed_time(end))
            TOTALS[kind]["gpu_s"] += max(gpu, 0.0) / 1e3
    return read_back


def report(label: str = "") -> None:
    for kind, row in TOTALS.items():
        n = max(row["steps"], 1)
        rest = row["wall_s"] - row["plan_s"] - row["launch_s"] - row["wait_s"] - row["read_s"]
        print(f"[probe] {label}{kind}: {row['steps']:.0f} steps, {row['tokens']:.0f} tokens, {row['seqs'] / n:.1f} seqs/step | "
              f"wall {row['wall_s']:.2f} s = plan {row['plan_s']:.2f} + launch {row['launch_s']:.2f} + wait "
              f"{row['wait_s']:.2f} + read {row['read_s']:.2f} + rest {rest:.2f} | GPU {row['gpu_s']:.2f} s | engine "
              f"thread CPU {row['thread_cpu_s']:.2f} s | per step: wall {1e3 * row['wall_s'] / n:.1f} ms, GPU "
              f"{1e3 * row['gpu_s'] / n:.1f} ms", flush=True)
    TOTALS.clear()
    if PROFILER:
        text = io.StringIO()
        pstats.Stats(PROFILER[0], stream=text).sort_stats("tottime").print_stats(PROFILE_ROWS)
        print(f"[probe] {label}engine-thread cProfile:\n{text.getvalue()}", flush=True)
        PROFILER[0] = cProfile.Profile()


def wrap_measurement(original, name: str):
    """Report and reset after each measured workload (and after each agent)."""
    def measured(self, job, workload, *args):
        result = original(self, job, workload, *args)
        if name == "agent_row":
            report(f"{args[0]} ")
        else:
            report(f"{workload.name} ")
        return result
    return measured


if __name__ == "__main__":
    llm_engine.LLMEngine.step = wrap_step(llm_engine.LLMEngine.step)
    llm_engine.LLMEngine._launch = wrap_launch(llm_engine.LLMEngine._launch)
    llm_engine.LLMEngine._read_back = wrap_read_back(llm_engine.LLMEngine._read_back)
    scheduler.Scheduler.schedule = timed(scheduler.Scheduler.schedule, "plan_s")
    model_runner.PendingTokens.result = timed(model_runner.PendingTokens.result, "wait_s")
    from matheval.bench.suite import Context

    Context.agent_row = wrap_measurement(Context.agent_row, "agent_row")
    Context.measure_batch = wrap_measurement(Context.measure_batch, "measure_batch")
    atexit.register(report)
    sys.exit(main(["bench", *sys.argv[1:]]))
