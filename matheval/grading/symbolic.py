"""Symbolic equality through math-verify: LaTeX, sets, intervals, tuples, matrices, expressions.

These calls have no time limit of their own (math-verify's relies on SIGALRM, which only works in the
main thread); :mod:`matheval.grading.worker` runs them in a process it can kill.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

# math-verify warns once that its own timeouts are off; the worker process is the time limit instead.
logging.getLogger("math_verify").setLevel(logging.ERROR)

_CONFIGS = (LatexExtractionConfig(), ExprExtractionConfig())


@lru_cache(maxsize=8192)
def parsed(answer: str) -> tuple:
    """math-verify's readings of one answer (a sympy object and the string), cached: gold answers recur."""
    return tuple(parse(f"${answer}$", extraction_config=list(_CONFIGS), parsing_timeout=None))


def symbolically_equal(gold: str, prediction: str) -> bool:
    """math-verify's verdict. Not symmetric: `gold` is the reference (it decides e.g. `x = 5` vs `5`)."""
    gold_readings, predicted_readings = parsed(gold), parsed(prediction)
    if not gold_readings or not predicted_readings:
        return False
    return verify(list(gold_readings), list(predicted_readings), timeout_seconds=None)
