"""CPU throughput of the backends on SmolLM2-135M: the same GSM8K prompts through each, tokens/s.

    python benchmarks/cpu_backends.py                      # all configurations, 32 prompts, 128 tokens
    python benchmarks/cpu_backends.py --only static-16 continuous --prompts 16

Each configuration gets a fresh engine; the clock runs from the first request to the last answer
(model loading and server start-up excluded), with all prompts submitted at once as an evaluation's
workflows would. Greedy decoding; tokens are the completion tokens each backend reports (answers
that end early at EOS count what they produced). The load average is printed before and after each
configuration: the machine is shared, and numbers taken under load are not comparable.
Results go to stdout as a markdown table and to <--out>/cpu_backends-<timestamp>.json (results/bench, git-ignored;
the run on the results page is benchmarks/results/cpu_backends-20261123-143737.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # tests/servers.py starts transformers serve

CONFIGS = ("static-1", "static-8", "static-16", "continuous", "openai-serve", "openai-serve-cb")


def prompts(count: int, data_dir: str) -> list[list[dict]]:
    from matheval.data import load_problems
    from matheval.prompts import build_messages

    return [build_messages(p, "standard") for p in load_problems("gsm8k", data_dir=data_dir, count=count)]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_config(name: str, messages: list[list[dict]], max_tokens: int, model_path: str, threads: int) -> dict:
    import torch

    from matheval.engines.sync import SyncEngine

    torch.set_num_threads(threads)
    server = None
    try:
        if name.startswith("static-"):
            engine = SyncEngine("transformers", model_path, batch_size=int(name.split("-")[1]), device="cpu")
        elif name == "continuous":
            engine = SyncEngine("continuous", model_path, batch_size=len(messages), device="cpu")
        else:
            from servers import TransformersServer

            # --cb-num-blocks: on CPU transformers would otherwise give the KV cache 60% of all RAM
            flags = ("--continuous-batching", "--cb-num-blocks", "192") if name == "openai-serve-cb" else ()
            server = TransformersServer(model_path, Path(tempfile.gettempdir()) / f"bench-{name}.log", extra_args=flags,
                                        threads=threads)
            server.start()
            engine = SyncEngine("openai", model_path, base_url=server.url, max_concurrency=len(messages))
        load_before = load()
        started = time.perf_counter()
        completions = engine.complete(messages, max_new_tokens=max_tokens)
        seconds = time.perf_counter() - started
        load_after = load()
        tokens = sum(c.total_completion_tokens for c in completions)
        engine.close()
    finally:
        if server is not None:
            server.kill()
    return {"config": name, "prompts": len(messages), "max_tokens": max_tokens, "completion_tokens": tokens,
            "seconds": round(seconds, 2), "tokens_per_second": round(tokens / seconds, 2),
            "load_before": load_before, "load_after": load_after,
            "texts_sample": [c.text[:80] for c in completions[:2]]}


def versions() -> dict:
    import torch
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "cpus": os.cpu_count(), "machine": platform.machine()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=CONFIGS, default=list(CONFIGS))
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max_tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (in-process and server); on a busy shared machine 2 OpenMP threads "
                             "can be an order of magnitude slower than 1")
    parser.add_argument("--data_dir", default=os.environ.get("MATHEVAL_DATA_DIR", str(ROOT.parent / "shared" / "data")))
    parser.add_argument("--out", default="results/bench", help="folder of the JSON file")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from matheval.models import resolve

    model_path = resolve("smollm2-135m").path
    messages = prompts(args.prompts, args.data_dir)
    info = {"date": datetime.now().isoformat(timespec="seconds"), "threads": args.threads, **versions()}
    print(f"# CPU backends, SmolLM2-135M: {args.prompts} GSM8K prompts, {args.max_tokens} new tokens, greedy; {info}",
          flush=True)
    rows = []
    for name in args.only:
        row = run_config(name, messages, args.max_tokens, model_path, args.threads)
        rows.append(row)
        print(f"| {name} | {row['completion_tokens']} | {row['seconds']:.1f} | {row['tokens_per_second']:.1f} | "
              f"{row['load_before']} / {row['load_after']} |", flush=True)
    out = Path(args.out) / f"cpu_backends-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"info": info, "args": vars(args), "rows": rows}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
