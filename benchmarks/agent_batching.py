"""How full does each agent keep the engine's batches? Measured against the ideal.

For every agent, one real `run_eval` (the function behind `matheval agent`) on --count problems at
--batch_size, then from its records and the engine's statistics (metrics.csv: engine_calls, mean_batch):

- rows: the sequences the agent asked for (a request for n samples is n rows).
- ideal engine calls: sum over steps s of ceil(rows at step s, over all problems / batch_size). A call's
  step is its depth in its workflow's chain of dependent calls (`Call.step`: calls awaited together share
  a step). Requests at the same step of different problems can all be pending at once, so this is what
  an engine needs if every request that could be concurrent shared a batch (lock-step over problems).
  It is not a hard lower bound: problems that drift apart can mix steps in one batch and do better.
- efficiency: ideal calls / actual calls (equal to actual mean batch / ideal mean batch).

    python benchmarks/agent_batching.py --model smollm2-135m --count 64 --batch_size 64 --max_new_tokens 32

`--model tiny-random` builds a 2-layer random-weight model with SmolLM2's tokenizer: it generates ~100x
faster, so batches are short as on a GPU and the batcher's timing rules are exercised harder, but its
gibberish never stops early or writes code, so content-dependent branches are not exercised.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matheval.agents import AGENTS, AgentParams  # noqa: E402
from matheval.generation import GenerationSettings  # noqa: E402
from matheval.evaluate import EvalConfig, run_eval  # noqa: E402

AGENT_ORDER = list(AGENTS)


def build_tiny_random(folder: Path) -> str:
    """A 2-layer Llama with random weights (seed 0) and the packaged SmolLM2 tokenizer."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from matheval.models import resolve

    source = resolve("smollm2-135m").path
    base = AutoConfig.from_pretrained(source)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=base.vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=8192,
                         bos_token_id=base.bos_token_id, eos_token_id=base.eos_token_id, tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    return str(folder)


def ideal_calls(records: list[dict], batch_size: int) -> tuple[int, int, int]:
    """(ideal engine calls, rows, max step) from the records' traces (see the module docstring).
    Records without a trace (the standard evaluation keeps none) are one call of one row."""
    rows_at: dict[tuple, int] = defaultdict(int)
    for record in records:
        trace = record.get("trace")
        if trace is None:
            rows_at[(None, 1)] += record["calls"]
            continue
        for call in trace:
            rows_at[(call.get("engine"), call["step"])] += len(call["texts"])
    ideal = sum(math.ceil(rows / batch_size) for rows in rows_at.values())
    return ideal, sum(rows_at.values()), max(step for _, step in rows_at)


def measure(agent: str, args: argparse.Namespace, model: str, results_dir: Path) -> dict:
    params = AgentParams(num_runs=args.num_runs, max_iters=args.max_iters, rounds=args.rounds,
                         beam_width=args.beam_width, expansions=args.expansions, max_depth=args.max_depth,
                         max_calls=args.max_calls, generation=GenerationSettings(max_new_tokens=args.max_new_tokens))
    config = EvalConfig(model=model, round=f"batching_{agent}", dataset=args.dataset, count=args.count,
                        agent=agent, batch_size=args.batch_size, results_dir=str(results_dir), device=args.device,
                        seed=args.seed, progress=False, params=params)
    started = time.perf_counter()
    outcome = run_eval(config)
    wall = time.perf_counter() - started
    records = json.loads(Path(outcome.paths.answers).read_text())
    ideal, rows, steps = ideal_calls(records, args.batch_size)
    actual = outcome.row["engine_calls"]
    return {"agent": agent, "problems": len(records), "rows": rows, "steps": steps,
            "calls_per_problem": round(outcome.summary.calls_per_problem, 2),
            "engine_calls": actual, "ideal_calls": ideal, "mean_batch": outcome.row["mean_batch"],
            "ideal_mean_batch": round(rows / ideal, 2), "efficiency": round(ideal / actual, 3) if actual else None,
            "tokens_per_problem": round(outcome.summary.tokens_per_problem, 1),
            "tokens_per_second": round(outcome.row["tokens_per_second"], 1), "wall_seconds": round(wall, 1)}


def markdown(rows: list[dict]) -> str:
    lines = ["| agent | calls/problem | tokens/problem | rows | steps | engine calls | ideal calls | mean batch "
             "| ideal mean batch | efficiency | output tok/s | wall s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['agent']} | {r['calls_per_problem']} | {r['tokens_per_problem']} | {r['rows']} "
                     f"| {r['steps']} | {r['engine_calls']} | {r['ideal_calls']} | {r['mean_batch']} "
                     f"| {r['ideal_mean_batch']} | {r['efficiency']:.0%} | {r['tokens_per_second']} "
                     f"| {r['wall_seconds']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="a model name, folder, or tiny-random")
    parser.add_argument("--agents", nargs="*", default=AGENT_ORDER)
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--max_new_tokens", type=int, default=32)
    parser.add_argument("--num_runs", type=int, default=4)
    parser.add_argument("--max_iters", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--beam_width", type=int, default=2)
    parser.add_argument("--expansions", type=int, default=2)
    parser.add_argument("--max_depth", type=int, default=3)
    parser.add_argument("--max_calls", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the machine is shared)")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    scratch = Path(tempfile.mkdtemp(prefix="agent_batching_"))
    try:
        model = build_tiny_random(scratch / "tiny-random") if args.model == "tiny-random" else args.model
        rows = []
        for agent in args.agents:
            rows.append(measure(agent, args, model, scratch / "results"))
            print(json.dumps(rows[-1]), flush=True)
        print(markdown(rows))
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
