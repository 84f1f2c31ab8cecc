"""The summary table, defined once for the HTML page and the terminal so both show the same numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .data import Config

DASH = "—"


def percent(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:.1f}%"


def interval(low: float | None, high: float | None) -> str:
    return DASH if low is None or high is None else f"{low * 100:.1f}–{high * 100:.1f}%"


def number(value: float | None, digits: int) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def problems(config: Config) -> str:
    done = config.summary.count
    return str(done) if config.finished else f"{done} of {config.expected or '?'}"


def sampled(config: Config, which: str) -> str:
    """avg@N, maj@N (cons@N) or pass@N of a run with N samples per problem (a plain evaluation's
    --num_samples, a sampling agent's candidates), with its N; a dash where there are none."""
    s = config.summary
    value = {"maj": s.maj_at_n, "pass": s.pass_at_n, "avg": s.avg_at_n}[which]
    return DASH if value is None else f"{percent(value)} (N={s.num_samples})"


def truncated(config: Config) -> str:
    s = config.summary
    return percent(s.truncation_rate) if s.responses else DASH


@dataclass(frozen=True)
class Column:
    key: str  # machine name (data-col in the page; tests read it)
    title: str
    text: Callable[[Config], str]
    numeric: bool = True
    short: str = ""  # the terminal's narrower heading

    @property
    def heading(self) -> str:
        return self.short or self.title


COLUMNS = [
    Column("model", "model", lambda c: c.model, numeric=False),
    Column("dataset", "dataset", lambda c: c.dataset, numeric=False),
    Column("label", "mode / agent", lambda c: c.label, numeric=False),
    Column("backend", "backend", lambda c: c.backend or DASH, numeric=False),
    Column("count", "n", problems),
    Column("accuracy", "accuracy", lambda c: percent(c.summary.accuracy), short="acc"),
    Column("ci", "95% CI", lambda c: interval(c.summary.ci_low, c.summary.ci_high)),
    Column("maj", "maj@N", lambda c: sampled(c, "maj")),
    Column("pass", "pass@N", lambda c: sampled(c, "pass")),
    Column("avg", "avg@N", lambda c: sampled(c, "avg")),
    Column("truncated", "truncated", truncated, short="trunc"),
    Column("completion_tokens_per_problem", "generated tokens / problem",
           lambda c: number(c.summary.completion_tokens_per_problem, 1), short="gen tok"),
    Column("calls_per_problem", "calls / problem", lambda c: number(c.summary.calls_per_problem, 2), short="calls"),
    Column("engine_seconds_per_problem", "engine-s / problem",
           lambda c: number(c.summary.engine_seconds_per_problem, 2), short="engine-s"),
    Column("prompt_tokens_per_problem", "prompt tokens / problem",
           lambda c: number(c.summary.prompt_tokens_per_problem, 1), short="prompt tok"),
    Column("tokens_per_second", "tokens/s", lambda c: number(c.tokens_per_second, 1), short="tok/s"),
]
CAPTION = ("per problem: generated (completion) tokens, engine calls, engine-seconds (the run's wall time x the "
           "problem's share of the engine: GPU-seconds on a GPU), prompt tokens (apart: they are mostly cached)")


def differing(configs: list[Config]) -> list[str]:
    """The settings whose values differ between these configurations (from their manifests)."""
    from ..manifest import differing_settings

    return differing_settings([c.manifest for c in configs])


def settings_text(config: Config, keys: list[str]) -> str:
    """This configuration's values of the settings that differ: 'max_new_tokens 64 · temperature 0.7'."""
    from ..manifest import describe_value

    if not keys:
        return ""
    if config.manifest is None:
        return "(no manifest)"
    values = config.settings
    return " · ".join(f"{key} {describe_value(values.get(key))}" for key in keys)
