"""32,768-token generations on the native engine, the DeepSeek-R1 protocol's shape, and what budget forcing
costs after them (docs/reasoning.md).

One AIME problem under `--preset deepseek-r1 --num_samples 64` is one request for 64 samples of up to
32,768 tokens. This script runs that request on the native engine (random weights of a config, EOS
ignored, so every sample runs to the cap), twice: with the cache the engine plans from free GPU memory,
and with a cache that holds only a few of the sequences (--small_cache_seqs), where sequences must be
preempted and recomputed. It records wall time, tokens/s, preemptions, peak GPU memory and that every
sample reached the cap (no out-of-memory). Then it times budget forcing on the finished samples: for each
budget of the cap's curve, every sample cut at the budget plus the answer cue, 32 tokens each, and the
prefix-cache hits that make it cheap.

    PYTHONPATH=. python benchmarks/long_generations.py --dummy_config benchmarks/configs/qwen2.5-1.5b.json \
        --tokenizer .carry/bench/tokenizer --out $OUT/long_generations.json
    PYTHONPATH=. python benchmarks/long_generations.py --dummy_config benchmarks/configs/tiny-qwen2.json \
        --device cpu --samples 4 --tokens 256 --small_cache_seqs 2      # the mechanism on a CPU
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from matheval.agents.budget_forcing import FORCED_TOKENS, auto_budgets
from matheval.bench.model_source import prepare_model
from matheval.engines.base import EngineOptions, Sampling
from matheval.engines.chat import encode_prompt
from matheval.engines.native import NativeEngine
from matheval.presets import PRESETS

QUESTION = ("Find the sum of all integer bases $b>9$ for which $17_b$ is a divisor of $97_b.$\n"
            "Please reason step by step, and put your final answer within \\boxed{}.")


def run(engine: NativeEngine, items, device: str) -> tuple[list, float, dict]:
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    completions = engine.generate_many(items, ignore_eos=True)
    seconds = time.perf_counter() - started
    stats = engine.native_stats()
    if device.startswith("cuda"):
        stats["peak_gib"] = round(torch.cuda.max_memory_allocated() / (1 << 30), 2)
    return completions, seconds, stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dummy_config", required=True)
    parser.add_argument("--tokenizer", default=None)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=32768)
    parser.add_argument("--small_cache_seqs", type=int, default=8, help="sequences the small cache holds at the cap")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    source = prepare_model(None, args.dummy_config, args.tokenizer, args.device, dtype, seed=0)
    preset = PRESETS["deepseek-r1"]
    prompt = encode_prompt(source.tokenizer, [{"role": "user", "content": QUESTION},
                                              {"role": "assistant", "content": preset.prefill}])
    request = Sampling(max_tokens=args.tokens, temperature=0.6, top_p=0.95, n=args.samples, seed=0)
    report = {"machine": platform.node(), "date": time.strftime("%Y-%m-%d %H:%M"), "model": source.display,
              "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
              "samples": args.samples, "tokens": args.tokens, "prompt_tokens": len(prompt), "runs": {}}
    block = 16
    small = -(-args.small_cache_seqs * (len(prompt) + args.tokens) // block)
    try:
        for name, extra in (("planned cache", {}), (f"cache for {args.small_cache_seqs} sequences",
                                                    {"num_kv_blocks": small})):
            with NativeEngine(str(source.folder), EngineOptions(device=args.device, extra=extra)) as engine:
                [completion], seconds, stats = run(engine, [(prompt, request)], args.device)
                lengths = completion.completion_tokens
                entry = {"seconds": round(seconds, 1), "tokens_per_second": round(sum(lengths) / seconds, 1),
                         "every_sample_reached_the_cap": all(n == args.tokens for n in lengths),
                         "preemptions": stats["preemptions"], "kv_blocks": stats["kv_blocks"],
                         "peak_gib": stats.get("peak_gib")}
                if name == "planned cache":  # budget forcing on these samples, prefix cache warm
                    before = engine.native_stats()
                    forced = [(prompt + ids[:budget] + source.tokenizer(preset.answer_cue, add_special_tokens=False)
                               ["input_ids"], Sampling(max_tokens=FORCED_TOKENS))
                              for budget in auto_budgets(args.tokens) for ids in completion.token_ids]
                    _, forcing_seconds, after = run(engine, forced, args.device)
                    entry["budget_forcing"] = {
                        "requests": len(forced), "seconds": round(forcing_seconds, 1),
                        "prompt_tokens": sum(len(p) for p, _ in forced),
                        "prefix_hit_tokens": after["prefix_hit_tokens"] - before["prefix_hit_tokens"]}
                report["runs"][name] = entry
                print(name, json.dumps(entry), flush=True)
    finally:
        source.cleanup()
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
