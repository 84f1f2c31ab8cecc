"""Published anchors: numbers a model's authors reported, with the settings they used (anchors.json).

A run whose model, dataset and preset (and agent, where the anchor names one) match an anchor gets the
published number printed beside its own, with its own 95% interval and whether the published number falls
inside it, and the settings in which the run differs from the published protocol (fewer samples, a lower
cap...). Every anchor names its source (a URL and the table or sentence it comes from); a number that
cannot be cited is not in the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .metrics import Summary

FILE = Path(__file__).with_name("anchors.json")


@dataclass(frozen=True)
class Anchor:
    model: str
    dataset: str
    metric: str  # avg, cons or accuracy
    n: int
    value: float  # percent, as published
    preset: str
    agent: str
    temperature: float
    top_p: float
    max_new_tokens: int
    source: str
    table: str

    @property
    def label(self) -> str:
        """The metric as the source names it: pass@1 for the mean over n samples."""
        return {"avg": "pass@1", "cons": f"cons@{self.n}"}.get(self.metric, "accuracy")


@lru_cache(maxsize=1)
def load_anchors() -> tuple[Anchor, ...]:
    data = json.loads(FILE.read_text(encoding="utf-8"))
    return tuple(Anchor(**entry) for entry in data["anchors"])


def same_model(anchor: Anchor, names: list[str]) -> bool:
    wanted = anchor.model.lower()
    return any(name and (name.lower() == wanted or name.lower() == wanted.split("/")[-1]) for name in names)


def matching(model_names: list[str], dataset: str, preset: str, agent: str) -> list[Anchor]:
    """The anchors of this model, dataset, preset (its base name: overrides still match) and agent."""
    base = preset.split("+")[0]
    return [a for a in load_anchors() if same_model(a, model_names) and a.dataset == dataset
            and a.preset == base and a.agent == agent]


def ours(anchor: Anchor, summary: Summary) -> tuple[str, list[float]] | None:
    """(our metric's name, [value, low, high]) comparable with the anchor, or None when the run lacks it
    (cons@64 needs at least 64 samples)."""
    if anchor.metric == "accuracy":
        return "accuracy", [summary.accuracy, summary.ci_low, summary.ci_high]
    if not summary.num_samples:
        if anchor.metric == "avg":  # one sample per problem: its accuracy estimates pass@1 as well
            return "accuracy", [summary.accuracy, summary.ci_low, summary.ci_high]
        return None
    if anchor.metric == "avg":
        return f"avg@{summary.num_samples}", [summary.avg_at_n, summary.avg_ci_low, summary.avg_ci_high]
    found = summary.cons_at_k.get(anchor.n) or summary.cons_at_k.get(str(anchor.n))
    return (f"cons@{anchor.n}", list(found)) if found else None


def differences(anchor: Anchor, generation, num_samples: int) -> list[str]:
    """The settings in which the run departs from the anchor's protocol."""
    found = []
    for name, mine, theirs in (("temperature", generation.temperature, anchor.temperature),
                               ("top_p", generation.top_p, anchor.top_p),
                               ("max_new_tokens", generation.max_new_tokens, anchor.max_new_tokens)):
        if mine != theirs:
            found.append(f"{name} {mine} (published {theirs})")
    if anchor.metric != "accuracy" and num_samples != anchor.n:
        found.append(f"{num_samples} samples per problem (published {anchor.n})")
    return found


def comparison_lines(model_names: list[str], dataset: str, preset: str, agent: str, summary: Summary,
                     generation, num_samples: int) -> list[str]:
    lines = []
    for anchor in matching(model_names, dataset, preset, agent):
        mine = ours(anchor, summary)
        published = f"published {anchor.label} {anchor.value:.1f}%"
        if mine is None:
            lines.append(f"{published} ({anchor.table}; {anchor.source}): this run has no {anchor.label} to set beside it")
            continue
        name, (value, low, high) = mine
        inside = "inside" if low * 100 <= anchor.value <= high * 100 else "OUTSIDE"
        text = (f"{published} vs ours {name} {value:.1%} (95% CI {low:.1%}-{high:.1%}): {inside} our interval "
                f"[{anchor.table}; {anchor.source}]")
        changed = differences(anchor, generation, num_samples)
        if changed:
            text += "; this run differs: " + ", ".join(changed)
        lines.append(text)
    return lines


def table_lines() -> list[str]:
    """`matheval anchors`: one line per anchor."""
    return [f"{a.model:44s} {a.dataset:8s} {a.label:10s} {a.value:5.1f}%  preset {a.preset:17s} agent {a.agent:15s} "
            f"T={a.temperature} top_p={a.top_p} cap={a.max_new_tokens}  {a.source}" for a in load_anchors()]
