"""The native engine's GPU diagnostics, one module per job; benchmarks/native_throughput.py runs them.

    attention    the Triton paged-attention kernels against the torch path; decode attention split 1-16 ways
    elementwise  the fused element-wise kernels against the torch ops (bits and time)
    sampling     the sampling kernels: their time at the agents' batch sizes and tile settings, same tokens
    engine_runs  engine variants on the `throughput` workload, captured decode steps, prefill launches
    reference    transformers on the same weights: greedy agreement, and one static `generate` batch

`matheval bench` measures the engines as users run them; these time the engine's parts, to find where a
step's milliseconds go. Floors come from matheval/bench/roofline.py, the one formula.
"""


def log(*parts) -> None:
    print(*parts, flush=True)
