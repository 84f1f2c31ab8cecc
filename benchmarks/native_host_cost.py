"""The native engine's host work per decode round at large batches, on the CPU: time spent reading a round's
tokens back (`_read_back`) and planning (`Scheduler.schedule`), per round and per sequence, for many
n-sample requests on a tiny random model (benchmarks/configs/tiny-qwen2.json with a 512-token vocabulary,
so that EOS, 2 ids of 512, ends samples at varied lengths). Run it against two checkouts to compare:

    PYTHONPATH=<checkout> python benchmarks/native_host_cost.py --requests 128 --n 8 --max_num_seqs 1024

The model's own CPU time is not counted; the GPU path has the same host code.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=128)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--max_num_seqs", type=int, default=1024)
    parser.add_argument("--max_tokens", type=int, default=96)
    parser.add_argument("--decode_steps", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    import numpy as np

    from matheval.engines.base import Sampling
    from matheval.engines.native import llm_engine, scheduler
    from matheval.engines.native.config import EngineConfig
    from matheval.engines.native.sequence import Request

    config_path = Path(__file__).resolve().parent / "configs" / "tiny-qwen2.json"
    raw = json.loads(config_path.read_text())
    raw.update(vocab_size=512, eos_token_id=[0, 1])
    micro = Path(tempfile.mkdtemp()) / "config.json"
    micro.write_text(json.dumps(raw))
    totals = {"read_back": 0.0, "schedule": 0.0}

    def timed(owner, name, key):
        original = getattr(owner, name)

        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                totals[key] += time.perf_counter() - t0
        setattr(owner, name, wrapper)

    timed(llm_engine.LLMEngine, "_read_back", "read_back")
    timed(scheduler.Scheduler, "schedule", "schedule")
    config = EngineConfig(load_format="dummy", num_kv_blocks=40000, decode_steps=args.decode_steps,
                          max_num_seqs=args.max_num_seqs)
    core = llm_engine.LLMEngine(str(micro), config)
    rng = np.random.default_rng(0)
    for r in range(args.requests):
        prompt = [int(x) for x in rng.integers(2, 500, 150)]
        core.add_request(Request(prompt, lambda c, e: None), Sampling(max_tokens=args.max_tokens, temperature=1.0,
                                                                        n=args.n, seed=r))
    started = time.perf_counter()
    while core.has_work():
        core.step()
    wall = time.perf_counter() - started
    stats = core.native_stats()
    rounds, tokens = stats["decode_rounds"] + stats["prefill_steps"], stats["decode_tokens"]
    print(json.dumps({
        "checkout": str(Path(llm_engine.__file__).resolve().parents[3]), "args": vars(args),
        "wall_s": round(wall, 2), "decode_rounds": stats["decode_rounds"], "prefill_steps": stats["prefill_steps"],
        "mean_decode_batch": stats["mean_decode_batch"], "decode_tokens": tokens,
        "read_back_s": round(totals["read_back"], 3), "schedule_s": round(totals["schedule"], 3),
        "read_back_ms_per_round": round(1e3 * totals["read_back"] / max(rounds, 1), 3),
        "schedule_ms_per_round": round(1e3 * totals["schedule"] / max(rounds, 1), 3),
        "host_us_per_token": round(1e6 * (totals["read_back"] + totals["schedule"]) / max(tokens, 1), 3),
    }))


if __name__ == "__main__":
    sys.exit(main())
