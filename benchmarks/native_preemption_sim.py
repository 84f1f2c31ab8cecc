"""The native engine in a KV cache far smaller than its sequences need, on the CPU: how many preemptions, how
many K/V tokens they threw away, how many prompt tokens were computed again, and how long the decode rounds
were (steps per round; 8 at most). A tiny random model (tiny-qwen2 with a 512-token vocabulary), EOS ignored, sampled at
temperature 0.6 / top-p 0.95, output lengths lognormal (median 300, sigma 0.8, capped at 1,024: the
reasoning workload's shape at 1/32 of its length), 16 samples per prompt, at most 64 sequences running, a
cache of 40% of what 64 sequences of the mean length hold. Run it against two checkouts to compare:

    PYTHONPATH=<checkout> python benchmarks/native_preemption_sim.py --sequences 512
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sequences", type=int, default=512)
    parser.add_argument("--cache_fraction", type=float, default=0.4)
    parser.add_argument("--decode_steps", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from matheval.engines.base import Sampling
    from matheval.engines.native.config import EngineConfig
    from matheval.engines.native.llm_engine import LLMEngine
    from matheval.engines.native.sequence import Request

    raw = json.loads((Path(__file__).resolve().parent / "configs" / "tiny-qwen2.json").read_text())
    raw.update(vocab_size=512)
    micro = Path(tempfile.mkdtemp()) / "config.json"
    micro.write_text(json.dumps(raw))
    rng = np.random.default_rng(1)
    lengths = np.minimum(1024, np.round(rng.lognormal(np.log(300), 0.8, args.sequences))).astype(int)
    prompts = [[int(x) for x in rng.integers(2, 500, 100)] for _ in range(-(-args.sequences // 16))]
    need = int(sum(100 + n for n in lengths))
    blocks = int(args.cache_fraction * 64 * need / args.sequences / 16)
    config = EngineConfig(load_format="dummy", num_kv_blocks=blocks, decode_steps=args.decode_steps, max_num_seqs=64,
                          ignore_eos=True)
    core = LLMEngine(str(micro), config)
    done = []
    for i, n in enumerate(lengths):
        core.add_request(Request(prompts[i // 16], lambda c, e: done.append(c)),
                         Sampling(max_tokens=int(n), temperature=0.6, top_p=0.95, seed=i))
    started = time.perf_counter()
    while core.has_work():
        core.step()
    stats = core.native_stats()
    generated = sum(c.completion_tokens[0] for c in done)
    keys = ("prefill_steps", "prefill_tokens", "decode_steps", "decode_rounds", "mean_decode_batch", "preemptions",
            "preempted_tokens", "prefix_hit_tokens")
    import matheval

    print(json.dumps({"checkout": str(Path(matheval.__file__).resolve().parents[1]),
                      "args": vars(args), "kv_blocks": blocks, "output_tokens": int(lengths.sum()),
                      "all_lengths_reached": generated == int(lengths.sum()), "wall_s": round(time.perf_counter() - started, 1),
                      "steps_per_round": round(stats["decode_steps"] / max(1, stats["decode_rounds"]), 2),
                      **{k: stats.get(k) for k in keys}}))


if __name__ == "__main__":
    main()
