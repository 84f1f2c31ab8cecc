"""The n-sample estimators against exact enumeration, the clustered interval against simulated runs, and the
record-level summaries (docs/reasoning.md). Pure arithmetic on records: no model needed."""

from __future__ import annotations

import itertools
import random

import pytest

from matheval.metrics import (budget_curve, clustered_interval, cons_at_k, ks_for, pass_at_k, sampled_metrics,
                              summarize, trace_summary, wilson_interval)


@pytest.mark.parametrize("n", range(1, 8))
def test_pass_at_k_is_the_mean_over_every_k_subset(n):
    """Chen et al.'s estimator equals the share of k-subsets of the n samples holding a correct one, for
    every c and k, and for every arrangement of the c correct samples."""
    for c in range(n + 1):
        for k in range(1, n + 1):
            for correct in {tuple(i < c for i in order) for order in itertools.permutations(range(n))}:
                subsets = list(itertools.combinations(range(n), k))
                exact = sum(any(correct[i] for i in subset) for subset in subsets) / len(subsets)
                assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12), (n, c, k)


def test_pass_at_k_refuses_k_beyond_n():
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)
    assert ks_for(1) == [1] and ks_for(4) == [1, 2, 4] and ks_for(6) == [1, 2, 4, 6] and ks_for(64)[-2:] == [32, 64]


def test_cons_at_k_votes_the_first_k_samples_and_ties_go_to_the_first_seen():
    groups = [0, 1, 1, 0, None, 2]
    correct = [True, False, False, True, False, False]
    assert cons_at_k(groups, correct, 1)  # only sample 0
    assert cons_at_k(groups, correct, 2)  # a tie between 0 and 1: the first seen wins
    assert not cons_at_k(groups, correct, 3)  # group 1 has two votes
    assert cons_at_k(groups, correct, 4)  # 2 - 2 again: group 0 came first
    assert not cons_at_k([None, None], [False, False], 2)  # no answers, no vote


def test_the_clustered_interval_at_one_sample_is_wilson():
    for correct, total in ((0, 30), (7, 30), (30, 30), (412, 1319)):
        values = [1.0] * correct + [0.0] * (total - correct)
        assert clustered_interval(values, 1) == pytest.approx(wilson_interval(correct, total))


def test_the_clustered_interval_covers_the_truth_about_95_percent_of_the_time():
    """Simulated AIME-sized runs: 30 problems of very different difficulty, 4 samples each. The interval
    holds the population accuracy in about 95% of runs; the naive binomial interval over all 120 samples
    (samples taken as independent) holds it far less often."""
    rng = random.Random(1234)
    population = [rng.betavariate(0.4, 0.8) for _ in range(20000)]  # skewed: many hard, a few easy
    truth = sum(population) / len(population)
    covered = naive = 0
    runs = 2000
    for _ in range(runs):
        problems = rng.sample(population, 30)
        shares = [sum(rng.random() < p for _ in range(4)) / 4 for p in problems]
        low, high = clustered_interval(shares, 4)
        covered += low <= truth <= high
        correct = round(sum(shares) * 4)
        low, high = wilson_interval(correct, 120)
        naive += low <= truth <= high
    assert 0.93 <= covered / runs <= 0.97, covered / runs
    assert naive / runs < 0.88, naive / runs


def test_a_zero_score_still_has_an_upper_bound():
    low, high = clustered_interval([0.0] * 30, 4)
    assert low == 0.0 and high == pytest.approx(wilson_interval(0, 30)[1])


def record(correct: list[bool], groups: list[int | None] | None = None, **extra) -> dict:
    base = {"id": str(len(correct)), "correct": correct[0], "samples_correct": correct, "samples": ["x"] * len(correct),
            "prompt_tokens": 10, "completion_tokens": 20}
    if groups is not None:
        base["sample_groups"] = groups
    base.update(extra)
    return base


def test_sampled_metrics_of_records():
    records = [record([True, False, False, False], [0, 1, 1, 2]),
               record([True, True, False, True], [0, 0, 1, 0]),
               record([False, False, False, False], [0, 0, None, 1])]
    metrics = sampled_metrics(records)
    assert metrics.num_samples == 4
    assert metrics.avg.value == pytest.approx((0.25 + 0.75 + 0.0) / 3)
    assert metrics.pass_at[1].value == pytest.approx(metrics.avg.value)  # pass@1 is avg@N
    assert metrics.pass_at[4].value == pytest.approx(2 / 3)
    assert [metrics.cons_at[k].value for k in (1, 2, 4)] == pytest.approx([2 / 3, 2 / 3, 1 / 3])
    assert metrics.avg.low < metrics.avg.value < metrics.avg.high
    summary = summarize(records)
    assert summary.avg_at_n == pytest.approx(metrics.avg.value)
    assert summary.pass_at_n == pytest.approx(2 / 3) and summary.maj_at_n == pytest.approx(1 / 3)
    assert summary.pass_at_k[2] == pytest.approx(metrics.pass_at[2].as_list())
    assert sampled_metrics(records, (1, 3)).pass_at.keys() == {1, 3, 4}


def test_records_without_groups_keep_their_recorded_vote():
    """Agents' journals written before groups were stored: maj@N is their vote_correct, as before."""
    old = [record([False, True, True], vote_correct=True), record([True, False, False], vote_correct=False)]
    for r in old:
        r.pop("sample_groups", None)
    summary = summarize(old)
    assert summary.maj_at_n == 0.5 and summary.pass_at_n == 1.0


def test_truncation_and_the_budget_curve():
    records = [
        record([True, False], samples_truncated=[False, True], reasoning_tokens=30, answer_tokens=10,
               budget_correct={"16": [False, False], "32": [True, False]}, budget_forced={"16": 2, "32": 1}),
        record([False, False], samples_truncated=[True, True], reasoning_tokens=64, answer_tokens=0,
               budget_correct={"16": [False, True], "32": [False, True]}, budget_forced={"16": 2, "32": 2}),
    ]
    traces = trace_summary(records)
    assert (traces.responses, traces.truncated, traces.finished_correct) == (4, 3, 1)
    assert traces.finished_accuracy == 1.0 and traces.reasoning_tokens == 94 and traces.answer_tokens == 10
    curve = budget_curve(records)
    assert [p.budget for p in curve] == [16, 32]
    assert [p.accuracy.value for p in curve] == [0.25, 0.5] and [p.forced for p in curve] == [4, 3]
    summary = summarize(records)
    assert summary.truncation_rate == 0.75 and summary.budget_curve[1]["accuracy"] == 0.5
    one = [{"id": "a", "correct": False, "truncated": True}, {"id": "b", "correct": True}]
    assert trace_summary(one).truncated == 1 and trace_summary(one).finished_accuracy == 1.0
