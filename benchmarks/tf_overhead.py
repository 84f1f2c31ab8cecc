"""Where the transformers backend's time goes, beside a bare `model.generate` on the same weights.

The first GPU run measured `tf-b1` at 11 tok/s where the H100 anchors (benchmarks/RESULTS.md) have 24 for a
bare `generate` at batch 1. This script times, in one process on one model (random weights from a config, EOS suppressed):
bare `generate` and `TransformersBackend.generate_batch` (our path: per-row sampler and stopper) at
batch 1 and 64, then profiles one backend call with cProfile to show the host functions that cost most.

    PYTHONPATH=. python benchmarks/tf_overhead.py --dummy_config benchmarks/configs/qwen2.5-1.5b.json \
        --tokenizer .carry/bench/tokenizer --out /tmp/tf_overhead.json
    PYTHONPATH=. python benchmarks/tf_overhead.py --dummy_config benchmarks/configs/tiny-qwen2.json --device cpu --new 16
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import time

import torch

from matheval.bench.model_source import prepare_model
from matheval.engines.base import EngineOptions, Request, Sampling
from matheval.engines.chat import encode_prompt
from matheval.engines.transformers_engine import TransformersBackend


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bare_generate(model, prompts: list[list[int]], new: int, device: str) -> float:
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    sync(device)
    started = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new, min_new_tokens=new,
                             do_sample=False, pad_token_id=0)  # fmt: skip
    sync(device)
    assert out.shape[1] - width == new
    return time.perf_counter() - started


def backend_generate(backend, requests: list[Request], batch: int, device: str) -> float:
    sync(device)
    started = time.perf_counter()
    completions = backend.generate_batch(requests, batch)
    sync(device)
    assert all(c.completion_tokens[0] == requests[0].sampling.max_tokens for c in completions)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dummy_config", required=True)
    parser.add_argument("--tokenizer")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--new", type=int, default=128, help="tokens generated per sequence")
    parser.add_argument("--out", default="/tmp/tf_overhead.json")
    args = parser.parse_args()
    dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    source = prepare_model(None, args.dummy_config, args.tokenizer, args.device, dtype, seed=0, work_dir="/tmp")
    backend = TransformersBackend(str(source.folder), EngineOptions(device=args.device))
    messages = [[{"role": "user", "content": f"Question {i}: " + "count the apples and the pears " * 12}] for i in range(64)]
    requests = [Request(m, Sampling(max_tokens=args.new)) for m in messages]
    prompts = [encode_prompt(backend.tokenizer, m) for m in messages]
    results = {"device": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu",
               "new_tokens": args.new, "prompt_tokens": len(prompts[0])}  # fmt: skip
    bare_generate(backend.model, prompts[:2], 8, args.device)  # warm-up
    backend_generate(backend, [Request(messages[0], Sampling(max_tokens=8))], 1, args.device)
    for batch in (1, 64):
        bare = bare_generate(backend.model, prompts[:batch], args.new, args.device)
        ours = backend_generate(backend, requests[:batch], batch, args.device)
        results[f"b{batch}"] = {"bare_generate_tok_s": round(batch * args.new / bare, 1),
                                "backend_tok_s": round(batch * args.new / ours, 1),
                                "bare_ms_per_step": round(1000 * bare / args.new, 2),
                                "backend_ms_per_step": round(1000 * ours / args.new, 2)}  # fmt: skip
        print(f"batch {batch}:", json.dumps(results[f"b{batch}"]), flush=True)
    profile = cProfile.Profile()
    profile.enable()
    backend_generate(backend, requests[:1], 1, args.device)
    profile.disable()
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(15)
    results["profile_b1_tottime"] = text.getvalue()[-6000:]
    print(results["profile_b1_tottime"], flush=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    source.cleanup()


if __name__ == "__main__":
    main()
