"""Metrics of N samples per problem, as the field reports them, from records alone.

- avg@N: the mean over problems of each problem's share of correct samples (what papers call pass@1 when
  they sample: DeepSeek-R1 "generate 64 responses per query to estimate pass@1").
- pass@k: the chance that at least one of k samples is correct, by the unbiased estimator of Chen et al.
  2021 ("Evaluating Large Language Models Trained on Code", arXiv:2107.03374): per problem with c correct
  of n, 1 - C(n - c, k) / C(n, k), the average over every k-subset of the n samples; k = 1, 2, 4, ..., N.
- cons@k (maj@k): whether the most common answer of k samples is correct, answers grouped by mathematical
  equality at grading time (`sample_groups`: grading.group_answers). A tie goes to the answer seen first,
  as in grading.vote. For k < N the subset is the FIRST k samples: sample i is seeded from (run seed,
  problem, i) alone, so the first k samples are exactly what a run with --num_samples k draws.

Every metric comes with the clustered 95% interval of `intervals.clustered_interval` (problems as the unit).
The agents' pass@N and maj@N (--num_runs) are these functions at k = N.
"""

from __future__ import annotations

from dataclasses import dataclass

from .intervals import clustered_interval


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chen et al.'s unbiased pass@k for one problem with c correct of n samples (their numerically stable
    product form of 1 - C(n - c, k) / C(n, k))."""
    if not 0 < k <= n:
        raise ValueError(f"pass@k needs 0 < k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product


def ks_for(n: int) -> list[int]:
    """The k of pass@k and cons@k for N samples: 1, 2, 4, ... below N, then N itself."""
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    return ks + [n] if n >= 1 else []


def majority_group(groups: list[int | None], k: int) -> int | None:
    """The answer group most common among the first k samples (a tie: the group seen first; None when none
    of them has an answer)."""
    counts: dict[int, int] = {}
    for group in groups[:k]:
        if group is not None:
            counts[group] = counts.get(group, 0) + 1  # dicts keep first-seen order, max keeps the first of ties
    return max(counts, key=counts.get) if counts else None


def cons_at_k(groups: list[int | None], correct: list[bool], k: int) -> bool:
    """Whether the majority answer of the first k samples is correct (every member of a group holds an
    answer equal to the group's first, so the group is correct when its first member is)."""
    winner = majority_group(groups, k)
    if winner is None:
        return False
    return bool(correct[groups.index(winner)])


@dataclass
class Estimate:
    value: float
    low: float
    high: float

    def as_list(self) -> list[float]:
        return [self.value, self.low, self.high]


def estimate(values: list[float], samples: int) -> Estimate:
    low, high = clustered_interval(values, samples)
    return Estimate(sum(values) / len(values) if values else 0.0, low, high)


@dataclass
class SampledMetrics:
    """avg@N, pass@k and cons@k of records that each hold N graded samples."""

    num_samples: int
    avg: Estimate
    pass_at: dict[int, Estimate]
    cons_at: dict[int, Estimate]


def groups_of(record: dict) -> list[int | None]:
    """Each sample's answer group. Records written before groups were stored fall back on string equality
    of the extracted answers (the majority at k = N is then taken from `vote_correct`, see below)."""
    if record.get("sample_groups") is not None:
        return list(record["sample_groups"])
    seen: dict[str, int] = {}
    return [None if answer is None else seen.setdefault(str(answer), len(seen)) for answer in record.get("samples", [])]


def sampled_metrics(records: list[dict], ks: tuple[int, ...] | None = None) -> SampledMetrics | None:
    """The metrics of records with `samples_correct`, or None when some record has none. Problems with
    fewer samples than the most (an agent that kept fewer candidates) are counted at what they have:
    pass@k and cons@k use min(k, n) for them."""
    sampled = [r.get("samples_correct") for r in records]
    if not records or not all(sampled):
        return None
    n = max(len(s) for s in sampled)
    shares = [sum(map(bool, s)) / len(s) for s in sampled]
    pass_at, cons_at = {}, {}
    for k in sorted(set(ks or ()) | {n}) if ks else ks_for(n):
        pass_at[k] = estimate([pass_at_k(len(s), sum(map(bool, s)), min(k, len(s))) for s in sampled], n)
        votes = []
        for record, correct in zip(records, sampled):
            size = min(k, len(correct))
            if size == len(correct) and record.get("sample_groups") is None and "vote_correct" in record:
                votes.append(float(bool(record["vote_correct"])))  # the vote graded when the record was made
            else:
                votes.append(float(cons_at_k(groups_of(record), correct, size)))
        cons_at[k] = estimate(votes, 1)
    return SampledMetrics(n, estimate(shares, n), pass_at, cons_at)
