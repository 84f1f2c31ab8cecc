"""The GPU code path of the native engine, run on the CPU: Triton kernels under Triton's interpreter
(TRITON_INTERPRET=1) and the CUDA-graph bucket path with a plain re-run standing in for graph replay.

    pip install -e '.[dev]'        # includes triton
    python benchmarks/native_triton_interpret.py

(tests/test_triton_kernels.py does the same on a tiny random model in seconds; this is the real SmolLM2,
4 minutes on an idle 2-core VM, 18 on a busy one.)

Greedy tokens must equal the torch-attention engine's (the CPU path the tests check against
transformers), with prefix sharing, cached prefixes in prefill and padded decode batches all exercised.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matheval.engines.native import triton_interpret  # noqa: E402

triton_interpret.enable()

import torch  # noqa: E402

from matheval.engines.base import EngineOptions, Sampling  # noqa: E402
from matheval.engines.native import NativeEngine  # noqa: E402
from matheval.engines.native.model_runner import rerun_capture  # noqa: E402
from matheval.models import resolve  # noqa: E402



def main() -> None:
    torch.set_num_threads(2)
    path = resolve("smollm2-135m").path
    questions = ["What is 12*7? Answer briefly.", "Solve for x: 3x + 5 = 20.",
                 "A rectangle has length 8 and width 3. What is its area?"]  # fmt: skip
    items = [([{"role": "user", "content": q}], Sampling(max_tokens=20, n=2 if i == 1 else 1)) for i, q in enumerate(questions)]
    results = {}
    for backend in ("torch", "triton"):
        extra = {"num_kv_blocks": 128, "max_num_seqs": 8, "attention_backend": backend}
        with NativeEngine(path, EngineOptions(extra=extra)) as engine:
            if backend == "triton":
                engine.core.runner._capture_graphs(capture=rerun_capture)
            started = time.perf_counter()
            first = engine.generate_many(items)
            again = engine.generate_many(items[:2])  # the same prompts again: prefill from cached prefixes
            results[backend] = ([c.token_ids for c in first], [c.token_ids for c in again], engine.native_stats())
            print(backend, f"{time.perf_counter() - started:.1f}s", results[backend][2], flush=True)
    torch_run, triton_run = results["torch"], results["triton"]
    print("first pass equal:", torch_run[0] == triton_run[0])
    print("cached-prefix pass equal:", torch_run[1] == triton_run[1])
    print("prefix hits (triton engine):", triton_run[2]["prefix_hit_blocks"])
    assert torch_run[0] == triton_run[0] and torch_run[1] == triton_run[1]


if __name__ == "__main__":
    main()
