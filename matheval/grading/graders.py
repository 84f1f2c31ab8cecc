"""The graders a run or a regrade may use, for auditing ours against peers.

- ``matheval``: :func:`matheval.grading.grade` (the default; docs/grading.md);
- ``math-verify``: plain math-verify as its documentation uses it, ``verify(parse(gold), parse(response))``
  with the gold given as LaTeX (``$gold$``), in a worker process with a time limit;
- ``lm-eval``: lm-evaluation-harness's GSM8K rules, read from its installed task file (its
  "flexible-extract" regex, the last number, then its exact match), when the ``lm-eval`` package is
  installed (``pip install 'matheval[lm-eval]'``).

Each grader is ``(response, gold, finish_reason) -> Grade``.
"""

from __future__ import annotations

import importlib.util
import re
from functools import lru_cache
from pathlib import Path
from typing import Callable

from matheval.errors import UserError
from matheval.grading.equivalence import DEFAULT_TIMEOUT, Grade, grade
from matheval.grading.worker import call

GRADERS = ("matheval", "math-verify", "lm-eval")
DEFAULT_GRADER = "matheval"
Grader = Callable[[str, str, "str | None"], Grade]


def get_grader(name: str) -> Grader:
    """The grader called `name`; a one-line error for an unknown one or a missing optional package."""
    if name == "matheval":
        return lambda response, gold, finish_reason=None: grade(response, gold, finish_reason=finish_reason)
    if name == "math-verify":
        return plain_math_verify
    if name == "lm-eval":
        _lm_eval_rules()  # fails now, in one line, when lm-eval is not installed
        return lm_eval_gsm8k
    raise UserError(f"unknown --grader {name!r}: use one of {', '.join(GRADERS)}")


def available_graders() -> list[str]:
    """The graders this machine can run (lm-eval only when its package is installed)."""
    return [name for name in GRADERS if name != "lm-eval" or importlib.util.find_spec("lm_eval") is not None]


def plain_math_verify(response: str, gold: str, finish_reason: str | None = None) -> Grade:
    verdict = call("plain", [gold, response or ""], DEFAULT_TIMEOUT) or [False, None]
    return Grade(verdict[1], bool(verdict[0]), finish_reason == "length")


def lm_eval_gsm8k(response: str, gold: str, finish_reason: str | None = None) -> Grade:
    pattern, ignore = _lm_eval_rules()
    found = pattern.findall(response or "")
    if found:
        last = found[-1]
        extracted = next((part for part in last if part), "") if isinstance(last, tuple) else last
        extracted = extracted.strip()
    else:
        extracted = None
    prediction, reference = extracted or "[invalid]", gold
    for rule in ignore:
        prediction, reference = rule.sub("", prediction), rule.sub("", reference)
    return Grade(extracted, extracted is not None and prediction.lower() == reference.lower(),
                 finish_reason == "length")


@lru_cache(maxsize=1)
def _lm_eval_rules() -> tuple[re.Pattern, list[re.Pattern]]:
    """lm-eval's GSM8K task file: the flexible-extract regex and the exact-match regexes_to_ignore."""
    spec = importlib.util.find_spec("lm_eval")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("--grader lm-eval needs the lm-eval package: pip install 'matheval[lm-eval]' "
                        "(or choose --grader matheval or math-verify)")
    task = Path(list(spec.submodule_search_locations)[0]) / "tasks" / "gsm8k" / "gsm8k.yaml"
    try:
        import yaml

        config = yaml.load(task.read_text(encoding="utf-8"), Loader=_tolerant_loader())
        flexible = next(f for f in config["filter_list"] if f["name"] == "flexible-extract")
        regex = next(step for step in flexible["filter"] if step["function"] == "regex")["regex_pattern"]
        metric = next(m for m in config["metric_list"] if m["metric"] == "exact_match")
        ignore = [re.compile(text) for text in metric.get("regexes_to_ignore", [])]
    except (OSError, KeyError, StopIteration, TypeError, ValueError, ImportError) as exc:
        raise UserError(f"cannot read lm-eval's GSM8K rules from {task} ({exc}): reinstall lm-eval") from exc
    return re.compile(regex), ignore


def _tolerant_loader():
    import yaml

    class Loader(yaml.SafeLoader):
        """Reads lm-eval's task files, whose `!function` tags name Python code we do not need."""

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    return Loader

