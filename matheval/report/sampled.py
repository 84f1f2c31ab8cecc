"""The report's "Sampling and reasoning" section: avg@N, pass@k and cons@k with their intervals, truncation and
the accuracy over finished responses, reasoning tokens, and the budget curve (accuracy against the token
budget, from budget forcing), per dataset. Numbers come from `metrics.summarize`, as everywhere else."""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup
from matplotlib.figure import Figure

from .columns import DASH, interval, percent
from .data import Config
from .plots import to_svg


@dataclass
class SampledRow:
    config: Config
    samples: int  # N, 0 for one response per problem
    cells: dict[str, str]  # metric -> "value [low-high]"


@dataclass
class SampledView:
    rows: list[SampledRow]
    ks: list[int]
    budget_svg: Markup | None = None
    budget_rows: list[tuple[Config, list[dict]]] = field(default_factory=list)


def estimate_text(values) -> str:
    if not values:
        return DASH
    value, low, high = values
    return f"{percent(value)} [{interval(low, high)}]"


def sampled_view(configs: list[Config], salt: str) -> SampledView | None:
    """The section's data for one dataset, or None when no configuration sampled, truncated or forced."""
    shown = [c for c in configs if c.summary.num_samples or c.summary.truncated or c.summary.budget_curve
             or c.summary.reasoning_tokens]
    if not shown:
        return None
    ks = sorted({int(k) for c in shown for k in c.summary.pass_at_k})
    rows = []
    for config in shown:
        s = config.summary
        cells = {"avg": estimate_text([s.avg_at_n, s.avg_ci_low, s.avg_ci_high]) if s.num_samples else DASH}
        for k in ks:
            cells[f"pass@{k}"] = estimate_text(s.pass_at_k.get(k))
            cells[f"cons@{k}"] = estimate_text(s.cons_at_k.get(k))
        cells["truncated"] = f"{percent(s.truncation_rate)} of {s.responses}"
        cells["finished"] = percent(s.finished_accuracy)
        cells["reasoning"] = (DASH if s.reasoning_tokens is None else
                              f"{s.reasoning_tokens / max(1, s.responses):.0f} / {s.answer_tokens / max(1, s.responses):.0f}")
        rows.append(SampledRow(config, s.num_samples, cells))
    view = SampledView(rows, ks)
    curves = [(c, c.summary.budget_curve) for c in shown if c.summary.budget_curve]
    if curves:
        view.budget_svg = Markup(budget_plot(curves, salt))
        view.budget_rows = curves
    return view


def budget_plot(curves: list[tuple[Config, list[dict]]], salt: str) -> str:
    """Accuracy against the token budget, one line per configuration, 95% intervals as bars."""
    figure = Figure(figsize=(7.5, 3.8), layout="constrained")
    ax = figure.subplots()
    for index, (config, points) in enumerate(curves):
        budgets = [p["budget"] for p in points]
        accuracy = [p["accuracy"] * 100 for p in points]
        below = [(p["accuracy"] - p["low"]) * 100 for p in points]
        above = [(p["high"] - p["accuracy"]) * 100 for p in points]
        ax.errorbar(budgets, accuracy, yerr=[below, above], fmt="o-", capsize=3, color=f"C{index % 10}",
                    label=config.name, markersize=5)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("token budget (forced answer at the budget)")
    ax.set_ylabel("accuracy (%), 95% interval")
    ax.set_ylim(-3, 103)
    ax.grid(alpha=0.3)
    figure.legend(fontsize=7, ncols=min(4, len(curves)), loc="outside upper center", frameon=False)
    return to_svg(figure, salt)


SECTION = """
<h2 id="sampling">Sampling and reasoning</h2>
<p class="muted">avg@N: the mean share of correct samples per problem (papers' pass@1 when they sample N); pass@k: at
least one of k samples correct (Chen et al.'s unbiased estimator); cons@k: the majority answer of the first k samples
(grouped by mathematical equality) is correct. Brackets: 95% intervals with problems as the unit (Wilson at the
effective sample size, docs/reasoning.md). Truncated: responses cut at the token cap or whose reasoning never closed
(no credit from a guessed answer); finished: accuracy over the others. Reasoning: tokens of reasoning / of answer per
response.</p>
{% for d in datasets %}{% if d.sampled %}
<h3>{{ d.name }}</h3>
<div class="scroll"><table class="sampled" data-dataset="{{ d.name }}"><thead><tr><th>configuration</th><th>N</th><th>avg@N</th>
{% for k in d.sampled.ks %}<th>pass@{{ k }}</th>{% endfor %}{% for k in d.sampled.ks %}<th>cons@{{ k }}</th>{% endfor %}
<th>truncated</th><th>finished</th><th>reasoning / answer tokens</th></tr></thead><tbody>
{% for row in d.sampled.rows %}<tr data-config="{{ row.config.key }}"><td>{{ row.config.name }}</td><td class="num">{{ row.samples or 1 }}</td>
<td class="num" data-col="avg">{{ row.cells.avg }}</td>
{% for k in d.sampled.ks %}<td class="num" data-col="pass@{{ k }}">{{ row.cells['pass@' ~ k] }}</td>{% endfor %}
{% for k in d.sampled.ks %}<td class="num" data-col="cons@{{ k }}">{{ row.cells['cons@' ~ k] }}</td>{% endfor %}
<td class="num" data-col="truncated">{{ row.cells.truncated }}</td><td class="num" data-col="finished">{{ row.cells.finished }}</td>
<td class="num" data-col="reasoning">{{ row.cells.reasoning }}</td></tr>
{% endfor %}</tbody></table></div>
{% if d.sampled.budget_svg %}
<h4>Accuracy against the token budget</h4>
<p class="muted">Budget forcing: at each budget, every sample that had not finished is cut there and asked for its answer
(the preset's answer cue, then a few greedy tokens); a finished sample keeps its own. One run gives the whole curve.</p>
<figure class="plot" data-plot="budget" data-dataset="{{ d.name }}">{{ d.sampled.budget_svg }}</figure>
<table class="budget"><thead><tr><th>configuration</th><th>budget</th><th>accuracy</th><th>95% interval</th><th>forced</th></tr></thead><tbody>
{% for config, points in d.sampled.budget_rows %}{% for p in points %}<tr data-config="{{ config.key }}"><td>{{ config.name }}</td><td class="num">{{ p.budget }}</td>
<td class="num">{{ percent(p.accuracy) }}</td><td class="num">{{ interval(p.low, p.high) }}</td><td class="num">{{ p.forced }} of {{ p.samples }}</td></tr>{% endfor %}{% endfor %}
</tbody></table>
{% endif %}
{% endif %}{% endfor %}
"""
