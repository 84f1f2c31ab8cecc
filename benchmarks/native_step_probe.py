"""Where an engine step's wall time goes on a workload: host work, waiting for the GPU, GPU time, and
whether the engine thread had the CPU (thread CPU time) or waited for the GIL while the agents' event
loop ran. Wraps the native engine's step and runner methods, then runs `matheval bench` in-process.

    python benchmarks/native_step_probe.py --configs native --workload agents ... (matheval bench flags)

Prints one summary line per step kind at exit. A diagnostic, not a benchmark: timing calls add a little.
"""

from __future__ import annotations

import atexit
import sys
import time
from collections import defaultdict

from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, installed or not
from matheval.cli import main  # noqa: E402
from matheval.engines.native import llm_engine, model_runner  # noqa: E402

TOTALS: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
CURRENT: dict = {}


def wrap_step(original):
    def step(self):
        wall0, cpu0 = time.perf_counter(), time.thread_time()
        CURRENT.clear()
        original(self)
        kind = CURRENT.get("kind", "?")
        row = TOTALS[kind]
        row["steps"] += 1
        row["wall_s"] += time.perf_counter() - wall0
        row["thread_cpu_s"] += time.thread_time() - cpu0
        for key in ("enqueue_s", "sync_s", "gpu_s", "tokens", "seqs"):
            row[key] += CURRENT.get(key, 0.0)
    return step


def wrap_run(original, kind: str):
    def run(self, seqs, *args):
        gpu = torch.cuda.is_available()
        start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2)) if gpu else (None, None)
        real_tolist = torch.Tensor.tolist
        marks = {}

        def tolist(tensor):  # the one host sync of a step: everything before it only enqueues
            marks["enqueued"] = time.perf_counter()
            if gpu:
                end.record()
            return real_tolist(tensor)

        t0 = time.perf_counter()
        if gpu:
            start.record()
        torch.Tensor.tolist = tolist
        try:
            out = original(self, seqs, *args)
        finally:
            torch.Tensor.tolist = real_tolist
        t1 = time.perf_counter()
        CURRENT.update(kind=kind, enqueue_s=marks.get("enqueued", t1) - t0, sync_s=t1 - marks.get("enqueued", t1),
                       gpu_s=start.elapsed_time(end) / 1e3 if gpu else 0.0, seqs=len(seqs),
                       tokens=sum(s.num_tokens - s.num_computed_tokens for s in seqs) if kind == "prefill"
                       else len(seqs) * (args[0] if args else 1))
        return out
    return run


def report(label: str = "") -> None:
    for kind, row in TOTALS.items():
        n = max(row["steps"], 1)
        print(f"[probe] {label}{kind}: {row['steps']:.0f} steps, {row['tokens']:.0f} tokens, {row['seqs'] / n:.1f} seqs/step | "
              f"wall {row['wall_s']:.2f} s = enqueue {row['enqueue_s']:.2f} + sync {row['sync_s']:.2f} + rest "
              f"{row['wall_s'] - row['enqueue_s'] - row['sync_s']:.2f} | GPU {row['gpu_s']:.2f} s | engine thread CPU "
              f"{row['thread_cpu_s']:.2f} s | per step: wall {1e3 * row['wall_s'] / n:.1f} ms, GPU "
              f"{1e3 * row['gpu_s'] / n:.1f} ms", flush=True)
    TOTALS.clear()


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
    model_runner.ModelRunner.run_prefill = wrap_run(model_runner.ModelRunner.run_prefill, "prefill")
    model_runner.ModelRunner.run_decode = wrap_run(model_runner.ModelRunner.run_decode, "decode")
    from matheval.bench.suite import Context

    Context.agent_row = wrap_measurement(Context.agent_row, "agent_row")
    Context.measure_batch = wrap_measurement(Context.measure_batch, "measure_batch")
    atexit.register(report)
    sys.exit(main(["bench", *sys.argv[1:]]))
