"""Summary statistics of a run, from its records alone: accuracy with Wilson intervals, avg@N / pass@k /
cons@k of sampled runs with clustered intervals, truncation and the budget curve (docs/reasoning.md)."""

from .intervals import Z95, clustered_interval, wilson_interval, wilson_rate
from .sampled import cons_at_k, ks_for, majority_group, pass_at_k, sampled_metrics
from .summary import Summary, summarize
from .traces import budget_curve, trace_summary

__all__ = ["Summary", "Z95", "budget_curve", "clustered_interval", "cons_at_k", "ks_for", "majority_group",
           "pass_at_k", "sampled_metrics", "summarize", "trace_summary", "wilson_interval", "wilson_rate"]
