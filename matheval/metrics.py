"""Summary statistics of a run, computed from its records alone (so they can be recomputed any time).

Accuracy comes with a 95% Wilson score interval, which stays inside [0, 1] and behaves at 0% and
100% where the normal approximation does not. Sampling agents also get pass@N (any of the N
candidates correct) and maj@N (the vote of the N candidates correct).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

Z95 = 1.959963984540054


def wilson_interval(successes: int, total: int, z: float = Z95) -> tuple[float, float]:
    if total == 0:
        return 0.0, 0.0
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the edges, where rounding
    high = 1.0 if successes == total else min(1.0, centre + half)  # would leave 0.9999999999999999
    return low, high


@dataclass
class Summary:
    count: int
    correct: int
    accuracy: float
    ci_low: float
    ci_high: float
    prompt_tokens: int
    completion_tokens: int
    tokens: int
    calls: int
    problem_seconds: float
    tokens_per_problem: float
    calls_per_problem: float
    seconds_per_problem: float
    num_samples: int = 0  # N of pass@N / maj@N, 0 when the agent keeps no samples
    pass_at_n: float | None = None
    pass_ci_low: float | None = None
    pass_ci_high: float | None = None
    maj_at_n: float | None = None
    maj_ci_low: float | None = None
    maj_ci_high: float | None = None
    # what a problem cost: generated (completion) tokens, and its share of the engine's wall time
    completion_tokens_per_problem: float = 0.0
    prompt_tokens_per_problem: float = 0.0
    engine_seconds_per_problem: float | None = None  # None for records written before engine shares

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(records: list[dict]) -> Summary:
    """Aggregate per-problem records (fields: correct, prompt_tokens, completion_tokens, calls,
    seconds, and for sampling agents samples_correct / vote_correct)."""
    n = len(records)
    correct = sum(1 for r in records if r["correct"])
    low, high = wilson_interval(correct, n)
    prompt = sum(r.get("prompt_tokens", 0) for r in records)
    completion = sum(r.get("completion_tokens", 0) for r in records)
    calls = sum(r.get("calls", 1) for r in records)
    seconds = sum(r.get("seconds", 0.0) for r in records)
    summary = Summary(
        count=n, correct=correct, accuracy=correct / n if n else 0.0, ci_low=low, ci_high=high,
        prompt_tokens=prompt, completion_tokens=completion, tokens=prompt + completion, calls=calls,
        problem_seconds=seconds,
        tokens_per_problem=(prompt + completion) / n if n else 0.0,
        calls_per_problem=calls / n if n else 0.0,
        seconds_per_problem=seconds / n if n else 0.0,
        completion_tokens_per_problem=completion / n if n else 0.0,
        prompt_tokens_per_problem=prompt / n if n else 0.0,
    )
    shares = [r.get("engine_seconds") for r in records]
    if n and all(isinstance(share, (int, float)) for share in shares):
        summary.engine_seconds_per_problem = sum(shares) / n
    sampled = [r for r in records if r.get("samples_correct")]
    if n and len(sampled) == n:
        summary.num_samples = max(len(r["samples_correct"]) for r in sampled)
        passed = sum(1 for r in sampled if any(r["samples_correct"]))
        summary.pass_at_n = passed / n
        summary.pass_ci_low, summary.pass_ci_high = wilson_interval(passed, n)
        voted = sum(1 for r in sampled if r.get("vote_correct"))
        summary.maj_at_n = voted / n
        summary.maj_ci_low, summary.maj_ci_high = wilson_interval(voted, n)
    return summary
