"""95% intervals for accuracies: of independent problems (Wilson), and of per-problem means (clustered).

A run with N samples per problem has two sources of noise: which problems the benchmark holds, and which
samples the model happened to draw. The samples of one problem are not independent (a hard problem is hard
for all of them), so treating P x N samples as P x N coin flips makes the interval far too narrow.
`clustered_interval` treats the problem as the unit: the standard error of the mean of the per-problem
values is the spread of those values over problems, SE^2 = var(v_i) / P (the problem-level standard error
that Miller 2024, "Adding Error Bars to Evals", arXiv:2411.00640, gives for K resamples per question), which
holds both the problem variance and each problem's sample variance. The interval is then the Wilson score interval at Kish's
effective sample size n_eff = m(1 - m) / SE^2 (the design effect of survey statistics), which stays inside
[0, 1] and does not collapse to a point at 0% or 100% as mean +- 1.96 SE does. n_eff lies between P (the
samples of a problem all agree) and P x N (they are as independent as separate problems); at N = 1 it is P
and the interval is exactly the Wilson interval of the P problems.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson_interval(successes: int, total: int, z: float = Z95) -> tuple[float, float]:
    if total == 0:
        return 0.0, 0.0
    low, high = wilson_rate(successes / total, total, z)
    low = 0.0 if successes == 0 else low  # exact at the edges, where rounding
    high = 1.0 if successes == total else high  # would leave 0.9999999999999999
    return low, high


def wilson_rate(rate: float, n: float, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a rate observed over n (possibly effective, non-integer) trials."""
    if n <= 0:
        return 0.0, 0.0
    denominator = 1 + z * z / n
    centre = (rate + z * z / (2 * n)) / denominator
    half = z * math.sqrt(max(0.0, rate * (1 - rate)) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if rate <= 0 else max(0.0, centre - half)
    high = 1.0 if rate >= 1 else min(1.0, centre + half)
    return low, high


def clustered_interval(values: list[float], samples: int, z: float = Z95) -> tuple[float, float]:
    """95% interval of the mean of per-problem values in [0, 1] (a problem's share of correct samples, its
    pass@k estimate...), each from `samples` draws: see the module docstring."""
    count = len(values)
    if count == 0:
        return 0.0, 0.0
    mean = sum(values) / count
    # The unbiased variance (ddof 1) of the per-problem values; ddof 0 where they are single 0/1 outcomes, so
    # that one sample per problem gives exactly the Wilson interval of P independent problems.
    variance = sum((v - mean) ** 2 for v in values) / (count if samples <= 1 or count < 2 else count - 1)
    bound = count * max(1, samples)
    if mean <= 0.0 or mean >= 1.0:
        effective = float(count)  # no spread to measure: the problems are the only independent units
    elif variance <= 0.0:
        effective = float(bound)
    else:
        effective = min(float(bound), max(float(count), mean * (1 - mean) / (variance / count)))
    return wilson_rate(mean, effective, z)
