"""The `identity` workload: does a configuration give the same texts at another concurrency?

The same GSM8K requests run twice through one engine, all in flight at once (`--concurrency 512`) and four
at a time (`--concurrency 4`: decode batches of 4, static batches of 4), each time with a cleared prefix
cache as two separate commands would have, greedy and seeded-sampled (temperature 0.7, top-p 0.95, seed 1).
The row is the identical-text rate between the two runs (and of token ids, where the engine reports them)
beside the speed of both. EOS is suppressed as in every bench workload, so each response runs its full
budget and must match all the way. With the `native` and `native-det` configurations also measured on
`throughput` and `agents`, `tables` adds the deterministic mode's speed as a share of the default's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from ..data import Problem, load_problems
from ..engines.base import Sampling
from ..engines.chat import encode_prompt
from ..prompts import build_messages
from .monitor import peak_memory_gb, reset_peak_memory
from .targets import reset_prefix_cache
from .workloads import Item

CONCURRENCY = (512, 4)  # all at once, then four at a time
HIGH_ONLY = ("native-det-eager",)  # compared with the other configurations' runs at 512 only (graphs vs eager)
MODES = {
    "greedy": {},
    "seeded T=0.7 top-p 0.95": {"temperature": 0.7, "top_p": 0.95, "seed": 1},
}
STATIC_MODES = ("greedy",)  # static-batch (tf-*) configurations: greedy only, on at most one batch of problems
LOW_STEP_S = {"native": 0.0025, "tf": 0.015}  # per decode step at 4 rows, for the deadline's estimate (H200 guesses)


@dataclass
class IdentityWorkload:
    name: str
    family: str
    problems: list[Problem]
    items: list[Item]
    max_tokens: int
    unit: str = "problem"
    description: str = ""


def identity_workload(tokenizer, count: int, tokens: int, data_dir: str | None) -> IdentityWorkload:
    problems = load_problems("gsm8k", data_dir=data_dir, count=count)
    items = []
    for problem in problems:
        messages = build_messages(problem, "standard")
        items.append(Item(messages, encode_prompt(tokenizer, messages), tokens))
    return IdentityWorkload("identity", "identity", problems, items, tokens,
                            description=f"first {count} GSM8K test questions, `standard` mode, {tokens} tokens each "
                                        f"(EOS suppressed), at --concurrency {CONCURRENCY[0]} and {CONCURRENCY[1]}, "
                                        f"each mode of {', '.join(MODES)}")  # fmt: skip


def modes_for(config: str) -> list[str]:
    return list(STATIC_MODES) if config.startswith("tf-") else list(MODES)


def estimate_seconds(config: str, workload: IdentityWorkload, count: int, on_gpu: bool) -> float:
    """Rough: the low-concurrency run dominates (count / 4 rounds of max_tokens steps at 4 rows)."""
    if not on_gpu:
        return 0.0
    kind = "tf" if config.startswith("tf-") else "native"
    per_mode = (count / CONCURRENCY[1] + 1) * workload.max_tokens * LOW_STEP_S[kind] * 1.3
    return 5.0 + per_mode * len(modes_for(config))


def sampling(mode: str, max_tokens: int) -> Sampling:
    return Sampling(max_tokens=max_tokens, **MODES[mode])


async def _run(engine, items: list[Item], sampling_of: Sampling, concurrency: int):
    limit = asyncio.Semaphore(concurrency)
    track = getattr(engine, "workflow", None)  # the Batcher cuts a batch when every live workflow waits

    async def one(item: Item):
        async with limit:
            with track() if track is not None else contextlib.nullcontext():
                return await engine.generate(item.messages, sampling_of)

    return await asyncio.gather(*(one(item) for item in items))


def first_difference(a, b) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def measure(context, job, workload: IdentityWorkload, target, count: int, setup_s: float) -> None:
    """One row per sampling mode: the identical-text rate between the two concurrencies, and both speeds."""
    engine = target.agent_engine
    if engine is None:
        from .targets import Skip

        raise Skip(f"{job.config} runs token ids, not chat requests: the identity check needs an async engine")
    items = workload.items[:count]
    started = time.perf_counter()
    target.warm_up(items)
    warmup_s = round(time.perf_counter() - started, 2)
    # texts of each configuration's run at CONCURRENCY[0], by mode, for comparisons between configurations
    earlier = context.__dict__.setdefault("identity_texts", {})
    for mode in modes_for(job.config):
        runs = []
        reset_peak_memory(context.device)
        for concurrency in CONCURRENCY[: 1 if job.config in HIGH_ONLY else 2]:
            reset_prefix_cache(engine)  # as two separate commands: nothing cached from the other run
            began = time.perf_counter()
            completions = asyncio.run(_run(engine, items, sampling(mode, workload.max_tokens), concurrency))
            runs.append((completions, time.perf_counter() - began))
        high, high_s = runs[0]
        texts = [c.texts for c in high]
        others = {other: sum(a == b for a, b in zip(texts, theirs)) for (other, m), theirs in earlier.items()
                  if m == mode and len(theirs) == len(texts)}
        earlier[(job.config, mode)] = texts
        tokens = sum(c.total_completion_tokens for c in high)
        row = {
            "config": job.config, "workload": workload.name, "family": workload.family, "agent": mode,
            "unit": "problem", "measured": count, "total": len(workload.items), "extrapolated": False,
            "concurrency": list(CONCURRENCY[: len(runs)]), "compared": count, "identical_to_configs": others,
            "useful_tokens": tokens, "wall_s": round(high_s, 3), "tok_s": round(tokens / high_s, 1),
            "problems_per_s": round(count / high_s, 4), "pct_of_floor": None,
            "peak_gpu_GB": peak_memory_gb(context.device), "gpu_util_mean": None, "mean_batch": None,
            "setup_s": setup_s, "warmup_s": warmup_s,
            "forced_lengths_ok": all(c.completion_tokens == [workload.max_tokens] for r in runs for c in r[0]),
            **_pair(runs),
        }  # fmt: skip
        context.run["rows"].append(row)
        pair = f"{row['identical_texts']}/{count} identical texts at c={CONCURRENCY[0]} vs {CONCURRENCY[1]}, " \
            if row["identical_texts"] is not None else ""
        print(f"[bench] {job.config}/identity {mode}: {pair}same text as {others or 'no other config yet'}, "
              f"{row['tok_s']:,.0f} tok/s", flush=True)


def _pair(runs) -> dict:
    """The two concurrencies compared: identical texts (and token ids, where the engine reports them)."""
    if len(runs) < 2:
        return {"identical_texts": None, "identical_token_ids": None, "first_difference_mean": None,
                "identical": None, "wall_s_low": None, "tok_s_low": None}
    (high, _), (low, low_s) = runs
    same_text = [a.texts == b.texts for a, b in zip(high, low)]
    ids = [(getattr(a, "token_ids", None), getattr(b, "token_ids", None)) for a, b in zip(high, low)]
    has_ids = all(a is not None and b is not None for a, b in ids)
    differing = [first_difference(a[0], b[0]) for a, b in ids if has_ids and a != b]
    tokens = sum(c.total_completion_tokens for c in low)
    return {"identical_texts": sum(same_text), "identical_token_ids": sum(a == b for a, b in ids) if has_ids else None,
            "first_difference_mean": round(sum(differing) / len(differing), 1) if differing else None,
            "identical": same_text, "wall_s_low": round(low_s, 3), "tok_s_low": round(tokens / low_s, 1)}


def tables(run: dict) -> str:
    """The identity rows, and the deterministic mode's speed against the default's; '' when neither ran."""
    rows = [r for r in run["rows"] if r.get("family") == "identity" and not r.get("error")]
    lines = []
    if rows:
        lines += ["", f"#### Identical texts at --concurrency {CONCURRENCY[0]} and {CONCURRENCY[1]} (identity workload)",
                  "", "Each request's response (full length, EOS suppressed) from two runs of the same requests, "
                  "the prefix cache cleared before each.", "",
                  "| config | sampling | identical texts | identical token ids | first difference (mean token) | "
                  f"tok/s at {CONCURRENCY[0]} | tok/s at {CONCURRENCY[1]} |", "| --- |" + " --- |" * 6]  # fmt: skip
        for r in rows:
            if r["identical_texts"] is None:
                continue
            ids = "–" if r["identical_token_ids"] is None else f"{r['identical_token_ids']} / {r['compared']}"
            lines.append(f"| {r['config']} | {r['agent']} | **{r['identical_texts']} / {r['compared']}** | {ids} | "
                         f"{r['first_difference_mean'] if r['first_difference_mean'] is not None else '–'} | "
                         f"{r['tok_s']:,.0f} | {r['tok_s_low']:,.0f} |")
        across = [(r, other, same) for r in rows for other, same in r["identical_to_configs"].items()]
        if across:
            lines += ["", f"Between configurations (their runs at {CONCURRENCY[0]}; e.g. native-det-eager vs native-det: "
                      "CUDA graphs or not):", "", "| configs | sampling | identical texts |", "| --- | --- | --- |"]
            lines += [f"| {r['config']} vs {other} | {r['agent']} | {same} / {r['compared']} |" for r, other, same in across]
    speed = {(r["config"], r["workload"], r.get("agent")): r["tok_s"] for r in run["rows"]
             if r.get("tok_s") and r.get("family") != "identity" and not r.get("error")}
    pairs = [(w, a) for (c, w, a) in speed if c == "native-det" and ("native", w, a) in speed]
    if pairs:
        lines += ["", "#### Deterministic mode (native-det) against the default (native), same run", "",
                  "| workload | native tok/s | native-det tok/s | native-det / native |", "| --- | --- | --- | --- |"]
        for w, a in pairs:
            base, det = speed[("native", w, a)], speed[("native-det", w, a)]
            lines.append(f"| {w}{f' / {a}' if a else ''} | {base:,.0f} | {det:,.0f} | **{100 * det / base:.1f}%** |")
    return "\n".join(lines) + ("\n" if lines else "")
