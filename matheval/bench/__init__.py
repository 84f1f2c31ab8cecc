"""`matheval bench`: the benchmark suite (docs/benchmarks.md).

    workloads     the prompts and forced output lengths (throughput, short, gsm8k, agents)
    model_source  one checkpoint folder every engine loads (random weights from a config, or a real model)
    targets       the engine configurations by name (tf-b<N>, tf-auto, tf-compile, tf-continuous, native, ...)
    forced        agents against an engine with forced output lengths and scripted responses
    plan          which measurements, in which order, on how much, and how long each should take
    roofline      bytes and FLOPs of a workload, and its floor on the measured ceilings
    monitor       versions, ceilings, nvidia-smi utilization, peak memory
    report        raw JSON and the markdown tables (RESULTS.md-style blocks)
    suite         the run itself

It imports only torch, transformers, numpy and matheval modules that need nothing else at import time,
so it runs on a bare GPU image.
"""

from .suite import BenchConfig, run_bench

__all__ = ["BenchConfig", "run_bench"]
