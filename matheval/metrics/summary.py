"""A run's summary, computed from its records alone (so it can be recomputed any time).

Accuracy (each record's `correct`: the final answer of an agent, the first sample of a plain evaluation)
comes with a 95% Wilson score interval, which stays inside [0, 1] and behaves at 0% and 100% where the
normal approximation does not. Records with several samples (--num_samples, or an agent's candidates)
also get avg@N, pass@k and cons@k with clustered intervals (`sampled`); every run gets its truncation
rate, the accuracy over finished responses, and its budget curve when it forced one (`traces`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .intervals import wilson_interval
from .sampled import sampled_metrics
from .traces import budget_curve, trace_summary


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
    num_samples: int = 0  # N of avg@N / pass@k / cons@k, 0 when the records keep no samples
    pass_at_n: float | None = None  # pass@N and maj@N (= cons@N), kept under the names metrics.csv has used
    pass_ci_low: float | None = None
    pass_ci_high: float | None = None
    maj_at_n: float | None = None
    maj_ci_low: float | None = None
    maj_ci_high: float | None = None
    avg_at_n: float | None = None  # mean share of correct samples: "pass@1" of papers that sample
    avg_ci_low: float | None = None
    avg_ci_high: float | None = None
    pass_at_k: dict[int, list[float]] = field(default_factory=dict)  # k -> [value, low, high]
    cons_at_k: dict[int, list[float]] = field(default_factory=dict)
    responses: int = 0  # graded responses: samples where records keep them, else records
    truncated: int = 0
    truncation_rate: float = 0.0
    finished_accuracy: float | None = None  # correct share of the responses that were not truncated
    reasoning_tokens: int | None = None  # summed over responses, when the run counted them
    answer_tokens: int | None = None
    budget_curve: list[dict] = field(default_factory=list)  # [{budget, accuracy, low, high, forced, samples}]
    # what a problem cost: generated (completion) tokens, and its share of the engine's wall time
    completion_tokens_per_problem: float = 0.0
    prompt_tokens_per_problem: float = 0.0
    engine_seconds_per_problem: float | None = None  # None for records written before engine shares

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(records: list[dict], ks: tuple[int, ...] | None = None) -> Summary:
    """Aggregate per-problem records (fields: correct, prompt_tokens, completion_tokens, calls, seconds;
    samples_correct / sample_groups / vote_correct where several samples were drawn; truncated and the
    samples' truncation; reasoning_tokens / answer_tokens; budget_correct)."""
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
    sampled = sampled_metrics(records, ks)
    if sampled is not None:
        top = sampled.num_samples
        summary.num_samples = top
        summary.avg_at_n, summary.avg_ci_low, summary.avg_ci_high = sampled.avg.as_list()
        summary.pass_at_k = {k: e.as_list() for k, e in sampled.pass_at.items()}
        summary.cons_at_k = {k: e.as_list() for k, e in sampled.cons_at.items()}
        summary.pass_at_n, summary.pass_ci_low, summary.pass_ci_high = sampled.pass_at[top].as_list()
        summary.maj_at_n, summary.maj_ci_low, summary.maj_ci_high = sampled.cons_at[top].as_list()
    traces = trace_summary(records)
    summary.responses, summary.truncated = traces.responses, traces.truncated
    summary.truncation_rate, summary.finished_accuracy = traces.truncation_rate, traces.finished_accuracy
    summary.reasoning_tokens, summary.answer_tokens = traces.reasoning_tokens, traces.answer_tokens
    summary.budget_curve = [{"budget": p.budget, "accuracy": p.accuracy.value, "low": p.accuracy.low,
                             "high": p.accuracy.high, "forced": p.forced, "samples": p.samples}
                            for p in budget_curve(records)]
    return summary
