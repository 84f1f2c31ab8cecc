"""Which measurements a run makes, in which order, on how much of each workload, and how long each takes.

The default GPU plan must fit one 10-minute device command, so it is ordered most important first and
slow configurations measure a subset: a static batch of B runs one batch (B sequences; batch 1 runs one
sequence, two GSM8K problems), and its tok/s is applied to the whole workload ("extrapolated" in the
tables). Before each measurement the run estimates its duration from the H100 anchors' timings
(benchmarks/RESULTS.md, "Anchors") and skips it, with the reason, if it would not finish before --deadline.
"""

from __future__ import annotations

from dataclasses import dataclass

from .targets import ConfigSpec, parse_config
from .workloads import AgentWorkload, BatchWorkload

ALL = ("throughput", "short", "gsm8k", "agents")  # what every configuration of the tiny plan runs

# (config, workload families), most important first. "gsm8k" means every gsm8k size unless a size is named.
FULL_PLAN = (
    ("native", ("throughput", "short", "gsm8k", "agents")),
    ("native-k1", ("throughput", "short")),  # what the multi-step decode rounds buy
    ("native-sync", ("throughput", "agents")),  # what asynchronous scheduling buys
    ("tf-b1", ("short", "gsm8k-100", "throughput")),  # the baseline every speedup divides by
    ("tf-b16", ("short", "gsm8k-100")),
    ("tf-b64", ("short", "gsm8k-100")),
    ("tf-b256", ("short",)),
    ("tf-compile", ("short",)),
    ("tf-continuous", ("short", "gsm8k-100")),
    ("tf-b32", ("short",)),
    ("tf-b128", ("short",)),
    ("tf-b64", ("throughput", "agents")),
    ("native-eager", ("throughput", "short")),
    ("tf-auto", ("short",)),
    ("native", ("reasoning",)),  # when asked for: a long workload (--reasoning_prompts measures a subset)
)
TINY_PLAN = (
    ("native", (*ALL, "reasoning")),
    ("tf-b1", ALL),
    ("tf-b4", ALL),
    ("tf-b8", ("throughput", "short", "gsm8k")),
    ("tf-continuous", ("throughput", "short", "gsm8k")),
    ("tf-compile", ("short",)),
)
COMPILE_BATCH = {"full": 128, "tiny": 4}

# The H100 anchors (benchmarks/RESULTS.md), Qwen2.5-1.5B: ms per decode step of `generate` at batch B (short
# prompts), plus about 0.33 us per (row x context token) as contexts grow (from `throughput`'s 858 tok/s).
STEP_MS = {1: 42.0, 16: 43.0, 32: 49.0, 64: 55.0, 128: 58.0, 256: 73.0}
CONTEXT_MS = 0.00033
RATE = {"native": 20000.0, "native-lazy": 20000.0, "native-k1": 16000.0, "native-sync": 17000.0, "native-eager": 6000.0, "tf-continuous": 1900.0, "tf-compile": 8000.0,
        "native-det": 16000.0, "native-det-eager": 5000.0}
SETUP_S = {"native": 30.0, "transformers": 10.0}
SEQUENCES_PER_PROBLEM = {"standard": 1, "majority_vote": 8, "debate": 9, "self_refine": 7}  # rough, for estimates


@dataclass(frozen=True)
class Job:
    config: str
    workload: str  # a workload's name: throughput, short, gsm8k-100, gsm8k-1319, agents

    @property
    def spec(self) -> ConfigSpec:
        return parse_config(self.config)


def make_jobs(scale: str, configs: list[str] | None, workloads: list[str], built: list) -> list[Job]:
    """The default plan of the scale, or (when --configs is given) every config x every workload, in order."""
    names = [w.name for w in built]

    def expand(families) -> list[str]:
        chosen = []
        for family in families:
            chosen += [n for n in names if n == family or n.startswith(family + "-")]
        return chosen

    if configs:  # each entry is a config, or config:w1+w2 for only those of the workloads
        wanted = set(expand(workloads))
        jobs = []
        for entry in configs:
            name, _, only = entry.partition(":")
            parse_config(name)  # a clear error before anything loads
            jobs += [Job(name, w) for w in expand(only.split("+") if only else workloads) if w in wanted]
        return jobs
    plan = FULL_PLAN if scale == "full" else TINY_PLAN
    wanted = set(expand(workloads))
    return [Job(c, w) for c, families in plan for w in expand(families) if w in wanted]


def measured_count(spec: ConfigSpec, workload, scale: str, batch: int | None = None) -> int:
    """How many sequences (or agent problems) of the workload this configuration measures."""
    total = len(workload.problems) if isinstance(workload, AgentWorkload) else len(workload.items)
    if spec.name == "tf-compile":
        return min(total, 2 * COMPILE_BATCH[scale])
    size = batch if batch is not None else spec.batch
    if not isinstance(size, int):
        return total
    if isinstance(workload, AgentWorkload):  # one problem's majority vote is 8 rows: about one batch
        return min(total, max(1, size // 8))
    if size == 1:
        return min(total, 2 if workload.family == "gsm8k" else 1)
    return min(total, size)


def estimate_seconds(spec: ConfigSpec, workload, count: int, on_gpu: bool) -> float:
    """A rough duration from the anchors (GPU only; 0 elsewhere, where only the deadline itself guards)."""
    if not on_gpu:
        return 0.0
    if isinstance(workload, AgentWorkload):
        from ..agents import AGENTS

        sequences = sum(SEQUENCES_PER_PROBLEM.get(r.agent, 8) for r in workload.runs if r.agent in AGENTS)
        tokens = count * sequences * (sum(workload.length_pool) / len(workload.length_pool))
        if isinstance(spec.batch, int):
            return tokens / (spec.batch * 1000.0 / _step_ms(spec.batch, 600))
        return tokens / RATE.get(spec.name, 1900.0)
    items = workload.items[:count]
    tokens = sum(i.max_tokens for i in items)
    if isinstance(spec.batch, int):
        ordered = sorted(items, key=lambda i: len(i.prompt_ids))
        total = 0.0
        for start in range(0, len(ordered), spec.batch):
            chunk = ordered[start:start + spec.batch]
            steps = max(i.max_tokens for i in chunk)
            context = max(len(i.prompt_ids) for i in chunk) + steps / 2
            total += steps * _step_ms(len(chunk), context) / 1000.0
        return total
    if spec.name == "tf-compile":
        return 50.0 + 1.5 * tokens / RATE["tf-compile"]
    if spec.name == "tf-continuous":
        return 10.0 + tokens / RATE["tf-continuous"]
    return 3.0 + tokens / RATE.get(spec.name, 1900.0)


def setup_seconds(spec: ConfigSpec, on_gpu: bool) -> float:
    return SETUP_S.get(spec.family, 20.0) if on_gpu else 0.0


def _step_ms(batch: int, context: float) -> float:
    sizes = sorted(STEP_MS)
    below = max((s for s in sizes if s <= batch), default=sizes[0])
    above = min((s for s in sizes if s >= batch), default=sizes[-1])
    if above == below:
        base = STEP_MS[below]
    else:
        base = STEP_MS[below] + (STEP_MS[above] - STEP_MS[below]) * (batch - below) / (above - below)
    return base + CONTEXT_MS * batch * max(0.0, context - 330)


__all__ = ["Job", "make_jobs", "measured_count", "estimate_seconds", "setup_seconds", "BatchWorkload"]
