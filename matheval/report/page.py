"""The HTML page: one self-contained file (styles, script and SVG figures inline; no network).

Model text is hostile (a response may hold `<script>`), so every value goes through Jinja2's
autoescaping; only our own SVG figures are marked safe. A Content-Security-Policy that allows no
network and no script but ours (by hash) is the second line of defence.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass, field

import jinja2
from markupsafe import Markup

from .. import __version__
from . import plots
from .columns import CAPTION, COLUMNS, differing, interval, percent, settings_text
from .disagreements import audited, disagreements, disagrees
from .sampled import SECTION as SAMPLED_SECTION
from .sampled import SampledView, sampled_view
from .data import (Config, Flips, breakdown, breakdown_keys, by_dataset, check_baseline, flips, pareto_front,
                   per_problem, reference_config)

STATUS_TITLES = {"correct": "all correct", "wrong": "all wrong", "mixed": "disagreeing"}

SCRIPT = """
function solvedBy(card, key) {
  const rows = card.querySelectorAll('tr[data-config="' + key + '"]');
  if (!rows.length) return null;
  let right = 0;
  for (const row of rows) right += row.dataset.correct === '1' ? 1 : 0;
  return right * 2 > rows.length;
}
function flipLinks(title, cards) {
  const line = document.createElement('div');
  line.append(title + ' (' + cards.length + '): ');
  for (const card of cards) {
    const link = document.createElement('a');
    link.href = '#' + card.id;
    link.textContent = card.dataset.pid;
    line.append(link, ' ');
  }
  return line;
}
for (const pair of document.querySelectorAll('.pair')) {
  const [first, second] = pair.querySelectorAll('select');
  const result = pair.querySelector('.pair-result');
  const update = () => {
    const gained = [], lost = [];
    for (const card of document.getElementById(pair.dataset.problems).querySelectorAll('.problem')) {
      const a = solvedBy(card, first.value), b = solvedBy(card, second.value);
      if (a === null || b === null) continue;
      if (!a && b) gained.push(card);
      if (a && !b) lost.push(card);
    }
    result.replaceChildren(flipLinks('right only in ' + second.selectedOptions[0].text, gained),
                           flipLinks('right only in ' + first.selectedOptions[0].text, lost));
  };
  first.addEventListener('change', update);
  second.addEventListener('change', update);
  update();
}
for (const bar of document.querySelectorAll('.filter')) {
  const section = bar.closest('.problems');
  const shown = bar.querySelector('.shown');
  bar.addEventListener('change', (event) => {
    section.dataset.show = event.target.value;
    const cards = section.querySelectorAll('.problem');
    let visible = 0;
    for (const card of cards) {
      const value = event.target.value;
      if (value === 'all' || card.dataset.status === value || (value === 'disagree' && card.dataset.disagree === '1')) visible += 1;
    }
    shown.textContent = visible + ' of ' + cards.length + ' shown';
  });
}
"""

STYLE = """
:root { --ok: #1e7d32; --bad: #b3261e; --mixed: #8a5a00; --line: #d0d7de; --soft: #f6f8fa; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1280px;
       padding: 0 24px 48px; color: #1f2328; background: #fff; }
h1 { margin: 20px 0 4px; } h2 { border-bottom: 1px solid var(--line); padding-bottom: 4px; margin-top: 36px; }
nav a { margin-right: 14px; } .muted { color: #59636e; } .small { font-size: 12px; }
table { border-collapse: collapse; margin: 8px 0 16px; } th, td { border: 1px solid var(--line); padding: 4px 8px; }
th { background: var(--soft); text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.unfinished td { background: #fff8e1; }
.scroll { overflow-x: auto; max-width: 100%; } td div.small { word-break: break-all; }
td code, td pre, .question, figcaption { overflow-wrap: anywhere; } table.answers, table.breakdown, table.flips { max-width: 100%; }
.answers td:last-child { max-width: 560px; } td.settings { font-size: 12px; max-width: 320px; overflow-wrap: anywhere; }
td.settings pre { max-height: 320px; max-width: 520px; }
#summary-table td:first-child { white-space: nowrap; }
figure { margin: 8px 0 20px; } figure svg { max-width: 100%; height: auto; }
.warnings li { color: var(--mixed); }
.ok { color: var(--ok); } .bad { color: var(--bad); }
.problem { border: 1px solid var(--line); border-left: 5px solid var(--line); border-radius: 6px; margin: 12px 0;
           padding: 8px 14px; }
.problem[data-status=correct] { border-left-color: var(--ok); } .problem[data-status=wrong] { border-left-color: var(--bad); }
.problem[data-status=mixed] { border-left-color: var(--mixed); }
.problem { scroll-margin-top: 44px; }
.problem h3 { margin: 4px 0; font-size: 15px; } .badge { font-weight: normal; font-size: 12px; margin-left: 8px; }
.question, pre { white-space: pre-wrap; word-break: break-word; }
pre { background: var(--soft); padding: 8px; border-radius: 4px; margin: 4px 0; max-height: 480px; overflow: auto; }
details { margin: 2px 0; } summary { cursor: pointer; color: #0b57d0; }
.call { border-left: 3px solid var(--line); padding-left: 8px; margin: 6px 0; }
.role { font-weight: 600; font-size: 12px; text-transform: uppercase; color: #59636e; }
.filter { position: sticky; top: 0; background: #fff; padding: 6px 0; border-bottom: 1px solid var(--line); z-index: 1; }
.filter label { margin-right: 14px; } .pair { margin: 8px 0; } .pair select { margin: 0 10px 0 4px; }
.problems[data-show=correct] .problem:not([data-status=correct]),
.problems[data-show=wrong] .problem:not([data-status=wrong]),
.problems[data-show=mixed] .problem:not([data-status=mixed]),
.problems[data-show=disagree] .problem:not([data-disagree="1"]) { display: none; }
.problems .problem:target { display: block; outline: 2px solid #0b57d0; }
"""

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>matheval report: {{ title }}</title>
<style>{{ style }}</style>
</head>
<body>
<h1>matheval report</h1>
<p class="muted">{{ configs|length }} configuration{{ 's' if configs|length != 1 }} on {{ datasets|length }}
dataset{{ 's' if datasets|length != 1 }} · written {{ generated }} by matheval {{ version }}</p>
<nav><a href="#summary">Summary</a><a href="#cost">Accuracy vs cost</a><a href="#sampling">Sampling and reasoning</a><a href="#breakdowns">Breakdowns</a>
<a href="#flips">Flips</a><a href="#disagreements">Grader disagreements</a><a href="#problems">Problems</a></nav>

<h2 id="summary">Summary</h2>
<div class="scroll"><table id="summary-table">
<thead><tr>{% for column in columns %}<th>{{ column.title }}</th>{% endfor %}<th>settings{% if setting_keys %} that differ{% endif %}</th></tr></thead>
<tbody>
{% for config in configs %}
<tr data-config="{{ config.key }}" data-model="{{ config.model }}" data-dataset="{{ config.dataset }}"
    data-label="{{ config.label }}"{% if not config.finished %} class="unfinished"{% endif %}>
{% for column in columns %}<td data-col="{{ column.key }}"{% if column.numeric %} class="num"{% endif %}{% if column.key == 'label' %} title="{{ config.folder }}"{% endif %}>{{ column.text(config) }}{% if column.key == 'label' and config.name != config.label %}<div class="small muted">{{ config.name }}</div>{% endif %}</td>{% endfor %}
<td data-col="settings" class="settings">{{ settings_text(config, setting_keys) }}{% if config.manifest %}<details><summary>all</summary><pre>{{ manifest_json(config) }}</pre></details>{% else %}<span class="muted small">no manifest (an older run)</span>{% endif %}</td>
</tr>
{% endfor %}
</tbody></table></div>
<p class="small muted">Accuracy with its 95% Wilson interval, recomputed from the answers files (the same function wrote
metrics.csv). With N samples per problem (--num_samples, or an agent's candidates): avg@N, the mean share of correct
samples; maj@N (cons@N), their vote is correct; pass@N, any of them is (see Sampling and reasoning). Truncated: the share
of responses cut at the token cap or with an unclosed reasoning. Costs are means {{ caption }}; tokens/s is completion
tokens per wall-clock second of the run's last invocation, from metrics.csv. Settings: those whose values differ between
the rows, from each run's manifest.json ("all" shows every one). Hover over a configuration for its folder.</p>
{% if warnings %}<ul class="warnings">{% for config, text in warnings %}<li>{{ config.dataset }} / {{ config.name }}: {{ text }}</li>{% endfor %}</ul>{% endif %}

<h2 id="cost">Accuracy against cost</h2>
<p class="muted">One point per configuration, with its 95% interval, against what it cost per problem: the tokens it
generated, and its engine-seconds (the run's wall time x the problem's share of the engine; a workflow's own seconds are
not used, as they are mostly waiting for its batch). Red points, joined by the dashed line, are the Pareto frontier of the
finished runs: no other is both cheaper and more accurate. Unfinished runs are grey squares, never on the frontier.</p>
{% for d in datasets %}
<h3>{{ d.name }}</h3>
{% if d.configs|length > 1 %}
<figure class="plot" data-plot="cost" data-dataset="{{ d.name }}">{{ d.cost_svg }}
{% if d.numbered %}<figcaption class="small">Numbered points: {% for number, name in d.numbered %}<b>{{ number }}</b> {{ name }}{{ ' · ' if not loop.last }}{% endfor %}</figcaption>{% endif %}</figure>
<p>Frontier by generated tokens: {{ d.front_tokens|join(' → ') or '—' }}. By engine-seconds: {{ d.front_seconds|join(' → ') or '—' }}.</p>
{% else %}{% set only = d.configs[0] %}
<p class="muted single">One configuration on {{ d.name }} ({{ only.name }}): {{ percent(only.summary.accuracy) }} at
{{ '%.1f'|format(only.summary.completion_tokens_per_problem) }} generated tokens per problem. The plot needs two or more.</p>
{% endif %}
{% endfor %}

{% include "sampled.html" %}
<h2 id="breakdowns">Breakdowns</h2>
{% for d in datasets %}
{% for b in d.breakdowns %}
<h3>{{ d.name }} by {{ b.key }}</h3>
<figure class="plot" data-plot="breakdown" data-dataset="{{ d.name }}">{{ b.svg }}</figure>
<div class="scroll"><table class="breakdown"><thead><tr><th>{{ b.key }}</th>{% for config in d.configs %}<th>{{ config.name }}</th>{% endfor %}</tr></thead>
<tbody>{% for group in b.groups %}<tr><td>{{ group }}</td>{% for config in d.configs %}{% set cell = b.table[config.key].get(group) %}
<td class="num">{% if cell %}<span title="95% interval {{ interval(*cell.interval) }}">{{ percent(cell.accuracy) }}</span> <span class="muted small">{{ cell.correct }}/{{ cell.total }}</span>{% else %}—{% endif %}</td>{% endfor %}</tr>{% endfor %}</tbody></table></div>
{% endfor %}
{% if not d.breakdowns %}<p class="muted">{{ d.name }}: the problems carry no level, subject or similar metadata with two or more values.</p>{% endif %}
{% endfor %}

<h2 id="flips">Flips between configurations</h2>
{% for d in datasets %}
<h3>{{ d.name }}</h3>
{% if d.flips %}
<p class="muted">Each configuration against <b>{{ d.reference.name }}</b> (the newest finished standard run unless
<code>matheval report --baseline NAME</code> names another), on the problems both attempted. Gained: the
reference got it wrong and this one right; lost: the reverse. p: exact McNemar test (a small p means the difference is
unlikely to be chance).</p>
<div class="scroll"><table class="flips"><thead><tr><th>configuration</th><th>shared</th><th>both right</th><th>gained</th><th>lost</th><th>both wrong</th><th>p</th><th>flipped problems</th></tr></thead><tbody>
{% for f in d.flips %}<tr data-config="{{ f.other.key }}"><td>{{ f.other.name }}</td><td class="num">{{ f.shared }}</td><td class="num">{{ f.both_right }}</td>
<td class="num ok">{{ f.gained|length }}</td><td class="num bad">{{ f.lost|length }}</td><td class="num">{{ f.both_wrong }}</td><td class="num">{{ '%.3g'|format(f.p_value) }}</td>
<td>{% if f.gained or f.lost %}<details><summary>{{ f.gained|length + f.lost|length }} problems</summary>
{% if f.gained %}<div>gained: {% for pid in f.gained %}<a href="#{{ d.anchors[pid] }}">{{ pid }}</a> {% endfor %}</div>{% endif %}
{% if f.lost %}<div>lost: {% for pid in f.lost %}<a href="#{{ d.anchors[pid] }}">{{ pid }}</a> {% endfor %}</div>{% endif %}
</details>{% else %}none{% endif %}</td></tr>
{% endfor %}</tbody></table></div>
<form class="pair" data-problems="problems-{{ loop.index }}">Any two: first
<select>{% for config in d.configs %}<option value="{{ config.key }}"{% if config.key == d.reference.key %} selected{% endif %}>{{ config.name }}</option>{% endfor %}</select>
second <select>{% for config in d.configs %}<option value="{{ config.key }}"{% if config.key == d.flips[0].other.key %} selected{% endif %}>{{ config.name }}</option>{% endfor %}</select>
<div class="pair-result"></div></form>
{% else %}<p class="muted">Only one configuration on {{ d.name }}: nothing to compare.</p>{% endif %}
{% endfor %}

<h2 id="disagreements">Grader disagreements</h2>
{% for d in datasets %}
<h3>{{ d.name }}</h3>
{% if not d.audited %}<p class="muted">No audit yet: <code>matheval regrade RESULTS_DIR --audit</code> grades every response with
every available grader and keeps their verdicts in the records.</p>
{% elif not d.disagreements %}<p class="muted">The graders ({{ d.graders|join(', ') }}) agree on every response.</p>
{% else %}
<p class="muted">{{ d.disagreements|length }} response{{ 's' if d.disagreements|length != 1 }} graded differently by
{{ d.graders|join(', ') }} (from <code>matheval regrade --audit</code>); the Problems filter "graders disagree" shows their cards.</p>
<table class="disagreements"><thead><tr><th>configuration</th><th>problem</th><th>run</th><th>gold</th>{% for g in d.graders %}<th>{{ g }}</th>{% endfor %}</tr></thead><tbody>
{% for item in d.disagreements %}<tr data-config="{{ item.config.key }}"><td>{{ item.config.name }}</td><td><a href="#{{ d.anchors[item.id] }}">{{ item.id }}</a></td><td class="num">{{ item.run }}</td><td><code>{{ item.gold }}</code></td>
{% for g in d.graders %}{% set v = item.verdicts.get(g) %}<td data-grader="{{ g }}" class="{{ 'ok' if v and v.get('correct') else 'bad' }}">{% if v %}{{ '✓' if v.get('correct') else '✗' }} <code>{{ v.get('extracted') if v.get('extracted') is not none else '(none)' }}</code>{% else %}—{% endif %}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>
{% endif %}
{% endfor %}

<h2 id="problems">Problems</h2>
{% for d in datasets %}
{% set dataset_index = loop.index %}
<section class="problems" id="problems-{{ dataset_index }}" data-show="all" data-dataset="{{ d.name }}">
<h3>{{ d.name }}: {{ d.problems|length }} problems</h3>
<form class="filter">
<label><input type="radio" name="show-{{ dataset_index }}" value="all" checked> all ({{ d.problems|length }})</label>
{% for status, title in status_titles.items() %}<label><input type="radio" name="show-{{ dataset_index }}" value="{{ status }}"> {{ title }} ({{ d.status_counts[status] }})</label>{% endfor %}
{% if d.audited %}<label><input type="radio" name="show-{{ dataset_index }}" value="disagree"> graders disagree ({{ d.problems|selectattr('disagree')|list|length }})</label>{% endif %}
<span class="shown muted small"></span>
</form>
{% for p in d.problems %}
<article class="problem" id="{{ p.anchor }}" data-status="{{ p.status }}" data-pid="{{ p.id }}"{% if p.disagree %} data-disagree="1"{% endif %}>
<h3>{{ p.id }}<span class="badge {{ 'ok' if p.status == 'correct' else 'bad' if p.status == 'wrong' else '' }}">{{ p.right }}/{{ p.total }} runs correct</span>{% if p.meta %}<span class="badge muted">{{ p.meta }}</span>{% endif %}</h3>
<div class="question">{{ p.question }}</div>
<p>Gold answer: <code>{{ p.gold }}</code></p>
<div class="scroll"><table class="answers"><thead><tr><th>configuration</th>{% if d.several_runs %}<th>run</th>{% endif %}<th>extracted answer</th><th></th><th>generated + prompt tokens</th><th>calls</th><th>engine-s</th><th>finish</th><th>response and trace</th></tr></thead><tbody>
{% for config, r in p.rows %}
<tr data-config="{{ config.key }}" data-correct="{{ 1 if r.correct else 0 }}"><td>{{ config.name }}</td>{% if d.several_runs %}<td class="num">{{ r.get('run', 0) }}</td>{% endif %}<td><code>{{ r.get('extracted') if r.get('extracted') is not none else '(none)' }}</code>
{% if r.get('samples') %}<div class="small">samples: {% for text, right in samples(r) %}<code class="{{ 'ok' if right else 'bad' }}">{{ text }}</code> {% endfor %}{% if 'vote' in r %}· vote <code>{{ r.get('vote') if r.get('vote') is not none else '(none)' }}</code>{% endif %}</div>{% endif %}</td>
<td class="{{ 'ok' if r.correct else 'bad' }}">{{ '✓' if r.correct else '✗' }}</td><td class="num">{{ r.get('completion_tokens', '') }} + {{ r.get('prompt_tokens', '') }}</td><td class="num">{{ r.get('calls', '') }}</td><td class="num">{{ '%.2f'|format(r.engine_seconds) if r.get('engine_seconds') is not none else '—' }}</td><td>{{ r.get('finish_reason') or '' }}</td>
<td><details><summary>response</summary><pre>{{ r.get('response') or '' }}</pre></details>
{% if r.get('agent') %}<details><summary>agent details</summary><pre>{{ as_json(r.agent) }}</pre></details>{% endif %}
{% if r.get('trace') %}<details><summary>trace ({{ r.trace|length }} call{{ 's' if r.trace|length != 1 }})</summary>
{% for call in r.trace %}<div class="call"><div><span class="role">#{{ loop.index }} {{ call.get('role', '') }}</span>
<span class="small muted">{{ call.get('prompt_tokens', 0) }} prompt + {{ call.get('completion_tokens', [])|sum }} completion tokens · {{ call.get('finish_reasons', [])|join(', ') }}{% if call.get('seconds') is not none %} · {{ '%.2f'|format(call.seconds) }} s{% endif %}</span></div>
<details><summary>input: {{ call.get('messages', [])|length }} message{{ 's' if call.get('messages', [])|length != 1 }}</summary>
{% for m in call.get('messages', []) %}<div class="role">{{ m.get('role', '') }}</div><pre>{{ m.get('content') if m.get('content') is string else as_json(m.get('content')) }}</pre>{% endfor %}</details>
{% for text in call.get('texts', []) %}<div class="role">output{% if call.get('texts', [])|length > 1 %} {{ loop.index }}{% endif %}</div><pre>{{ text }}</pre>{% endfor %}
</div>{% endfor %}</details>{% endif %}
</td></tr>
{% endfor %}
</tbody></table></div>
</article>
{% endfor %}
</section>
{% endfor %}
<script>{{ script }}</script>
</body>
</html>
"""


@dataclass
class ProblemView:
    id: str
    anchor: str
    question: str
    gold: str
    meta: str
    rows: list[tuple[Config, dict]]
    right: int = 0
    total: int = 0
    status: str = "wrong"
    disagree: bool = False  # the audit's graders grade one of its records differently


@dataclass
class BreakdownView:
    key: str
    groups: list
    table: dict
    svg: Markup


@dataclass
class DatasetView:
    name: str
    configs: list[Config]
    cost_svg: Markup
    front_tokens: list[str]
    front_seconds: list[str]
    breakdowns: list[BreakdownView]
    reference: Config
    flips: list[Flips]
    problems: list[ProblemView]
    anchors: dict[str, str] = field(default_factory=dict)
    several_runs: bool = False  # some problem was run more than once: show the run number
    status_counts: dict[str, int] = field(default_factory=dict)
    numbered: list[tuple[int, str]] = field(default_factory=list)  # points drawn as numbers: their names
    audited: bool = False
    graders: list[str] = field(default_factory=list)
    disagreements: list = field(default_factory=list)
    sampled: SampledView | None = None  # avg@N, pass@k, cons@k, truncation, budget curve (report.sampled)


def frontier(configs: list[Config], attribute: str) -> list[str]:
    """The names on the Pareto frontier by one cost: finished configurations with that cost recorded."""
    candidates = [c for c in configs if c.finished and getattr(c.summary, attribute) is not None]
    points = [(getattr(c.summary, attribute), c.summary.accuracy) for c in candidates]
    return [candidates[i].name for i in pareto_front(points)]


def dataset_view(number: int, name: str, configs: list[Config], baseline: str | None = None) -> DatasetView:
    salt = f"d{number}"
    fronts = [frontier(configs, attribute) for attribute, _ in plots.COSTS]
    breakdowns = []
    for index, key in enumerate(breakdown_keys(configs)):
        groups, table = breakdown(configs, key)
        svg = plots.breakdown_plot(configs, key, groups, table, f"{salt}b{index}")
        breakdowns.append(BreakdownView(key, groups, table, Markup(svg)))
    reference = reference_config(configs, baseline)
    problems = problem_views(number, configs)
    cost_svg, numbered = plots.cost_plot(configs, f"{salt}c") if len(configs) > 1 else ("", [])
    view = DatasetView(name=name, configs=configs, cost_svg=Markup(cost_svg), front_tokens=fronts[0],
                       front_seconds=fronts[1], breakdowns=breakdowns, reference=reference,
                       flips=[flips(reference, c) for c in configs if c is not reference], problems=problems,
                       numbered=numbered)
    view.anchors = {p.id: p.anchor for p in problems}
    view.several_runs = any(r.get("run", 0) for c in configs for r in c.records)
    view.status_counts = {s: sum(1 for p in problems if p.status == s) for s in STATUS_TITLES}
    view.audited = audited(configs)
    view.graders, view.disagreements = disagreements(configs)
    view.sampled = sampled_view(configs, f"{salt}s")
    return view


def problem_views(number: int, configs: list[Config]) -> list[ProblemView]:
    """Every problem any configuration attempted, in dataset order, with each configuration's runs."""
    views: dict[str, ProblemView] = {}
    for config in configs:
        for pid, records in per_problem(config).items():
            first = records[0]
            if pid not in views:
                meta = " · ".join(f"{k} {v}" for k, v in (first.get("metadata") or {}).items()
                                  if isinstance(v, (str, int, float)) and k != "unique_id")
                views[pid] = ProblemView(id=pid, anchor=f"p{number}-{len(views) + 1}", question=first.get("question", ""),
                                         gold=str(first.get("gold", "")), meta=meta, rows=[])
            views[pid].rows.extend((config, record) for record in records)
    for view in views.values():
        view.total = len(view.rows)
        view.right = sum(1 for _, r in view.rows if r["correct"])
        view.status = "correct" if view.right == view.total else "wrong" if view.right == 0 else "mixed"
        view.disagree = any(disagrees(r) for _, r in view.rows)
    return list(views.values())


def manifest_json(config: Config) -> str:
    """A configuration's settings as the manifest recorded them, for its row's collapsed details."""
    entry = config.manifest or {}
    shown = {key: entry.get(key) for key in ("settings", "resolved", "engine", "model", "dataset", "prompt",
                                             "environment", "invocations", "status") if key in entry}
    return json.dumps(shown, indent=2, ensure_ascii=False, default=str)


def samples(record: dict) -> list[tuple[str, bool]]:
    """A sampling agent's candidates with their grades (the grades list may be missing or short)."""
    grades = record.get("samples_correct") or []
    return [("(none)" if s is None else str(s), bool(grades[i]) if i < len(grades) else False)
            for i, s in enumerate(record.get("samples") or [])]


def csp(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    return (f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; img-src data:; "
            "base-uri 'none'; form-action 'none'")


def render(configs: list[Config], baseline: str | None = None) -> str:
    """The whole page as one string; flips are counted against `baseline` (a configuration's name) where a
    dataset has it, else against its newest finished standard-mode run."""
    check_baseline(configs, baseline)
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                                     lstrip_blocks=True, loader=jinja2.DictLoader({"sampled.html": SAMPLED_SECTION}))
    template = environment.from_string(TEMPLATE)
    datasets = [dataset_view(i + 1, name, group, baseline) for i, (name, group) in enumerate(by_dataset(configs).items())]
    keys = differing(configs)
    return template.render(
        title=", ".join(d.name for d in datasets), configs=configs, datasets=datasets, columns=COLUMNS,
        setting_keys=keys, settings_text=settings_text, caption=CAPTION, manifest_json=manifest_json,
        warnings=[(c, w) for c in configs for w in c.warnings], generated=time.strftime("%Y-%m-%d %H:%M"),
        version=__version__, status_titles=STATUS_TITLES, csp=csp(SCRIPT), style=Markup(STYLE),
        script=Markup(SCRIPT), percent=percent, interval=interval, samples=samples,
        as_json=lambda value: json.dumps(value, indent=2, ensure_ascii=False, default=str),
    )
