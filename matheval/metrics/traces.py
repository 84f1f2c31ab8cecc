"""What reasoning traces cost and how they end: truncation, tokens of reasoning and answer, the budget curve.

A response is *truncated* when it stopped at the token cap or its reasoning never closed (grading marks
it; it gets no credit from a guessed answer). Every run reports the share of truncated responses and the
accuracy over the finished ones beside its headline: a low score with half the responses cut off says
"raise the cap", not "weak model".

The budget curve (budget forcing, docs/reasoning.md) holds, for each budget B, every sample's correctness
when cut at B tokens and asked for its answer; its points get the same clustered interval as avg@N.
"""

from __future__ import annotations

from dataclasses import dataclass

from .sampled import Estimate, estimate


def sample_flags(record: dict) -> tuple[list[bool], list[bool]]:
    """(correct, truncated) of each response of a record: its samples, or the record itself."""
    if record.get("samples_truncated") is not None and record.get("samples_correct") is not None:
        return list(map(bool, record["samples_correct"])), list(map(bool, record["samples_truncated"]))
    return [bool(record.get("correct"))], [bool(record.get("truncated"))]


@dataclass
class TraceSummary:
    responses: int
    truncated: int
    finished_correct: int
    reasoning_tokens: int | None  # summed over responses; None when the run did not count them
    answer_tokens: int | None

    @property
    def truncation_rate(self) -> float:
        return self.truncated / self.responses if self.responses else 0.0

    @property
    def finished(self) -> int:
        return self.responses - self.truncated

    @property
    def finished_accuracy(self) -> float | None:
        return self.finished_correct / self.finished if self.finished else None


def trace_summary(records: list[dict]) -> TraceSummary:
    responses = truncated = finished_correct = 0
    for record in records:
        correct, cut = sample_flags(record)
        responses += len(correct)
        truncated += sum(cut)
        finished_correct += sum(1 for ok, c in zip(correct, cut) if ok and not c)
    counted = [r for r in records if r.get("reasoning_tokens") is not None]
    reasoning = sum(r["reasoning_tokens"] for r in counted) if counted and len(counted) == len(records) else None
    answer = sum(r.get("answer_tokens", 0) for r in counted) if reasoning is not None else None
    return TraceSummary(responses, truncated, finished_correct, reasoning, answer)


@dataclass
class BudgetPoint:
    budget: int
    accuracy: Estimate
    forced: int  # samples cut at this budget and asked for their answer
    samples: int


def budget_curve(records: list[dict]) -> list[BudgetPoint]:
    """Accuracy at each forced budget, over the records that hold the curve (all or nothing: a budget
    missing from some record is left out)."""
    curves = [r.get("budget_correct") for r in records]
    if not records or not all(curves):
        return []
    budgets = sorted(set.intersection(*(set(map(int, c)) for c in curves)))
    points = []
    for budget in budgets:
        per_problem = [c[str(budget)] for c in curves]
        shares = [sum(map(bool, flags)) / len(flags) if flags else 0.0 for flags in per_problem]
        forced = sum((r.get("budget_forced") or {}).get(str(budget), 0) for r in records)
        samples = sum(len(flags) for flags in per_problem)
        points.append(BudgetPoint(budget, estimate(shares, max(len(f) for f in per_problem)), forced, samples))
    return points
