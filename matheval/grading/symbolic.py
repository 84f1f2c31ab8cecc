"""Symbolic equality through math-verify: LaTeX, sets, intervals, tuples, matrices, expressions.

These calls have no time limit of their own (math-verify's relies on SIGALRM, which only works in the
main thread); :mod:`matheval.grading.worker` runs them in a process it can kill. `OPERATIONS` are what a
worker answers.
"""

from __future__ import annotations

import logging
import re
from fractions import Fraction
from functools import lru_cache

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

from matheval.grading.numbers import decimal_matches

# math-verify warns once that its own timeouts are off; the worker process is the time limit instead.
logging.getLogger("math_verify").setLevel(logging.ERROR)

_CONFIGS = (LatexExtractionConfig(), ExprExtractionConfig())
_DECIMAL = re.compile(r"[+-]?(?:\d+\.\d+|\.\d+)")


@lru_cache(maxsize=8192)
def parsed(answer: str) -> tuple:
    """math-verify's readings of one answer (a sympy object and the string), cached: gold answers recur."""
    return tuple(parse(f"${answer}$", extraction_config=list(_CONFIGS), parsing_timeout=None))


def symbolically_equal(gold: str, prediction: str) -> bool:
    """math-verify's verdict. Not symmetric: `gold` is the reference (it decides e.g. `x = 5` vs `5`).

    A plain decimal against an exact number follows the long-decimal rule instead of math-verify's
    rounding to 6 places (which takes 1.414214 for the square root of 2)."""
    gold_readings = parsed(gold)
    if not gold_readings:
        return False
    decimal = prediction.strip().replace(",", "")
    if _DECIMAL.fullmatch(decimal):
        value = _exact_value(gold_readings[0])
        if value is not None:
            return decimal_matches(value, decimal)
    predicted_readings = parsed(prediction)
    if not predicted_readings:
        return False
    return verify(list(gold_readings), list(predicted_readings), timeout_seconds=None)


def _exact_value(reading) -> Fraction | None:
    """A real constant (``\\sqrt{2}``, ``\\pi/4``) to 60 digits, or None for anything else."""
    import sympy

    if not isinstance(reading, sympy.Expr) or reading.free_symbols or not reading.is_number:
        return None
    if isinstance(reading, sympy.Float):
        return None  # a decimal gold: math-verify compares decimals with decimals
    value = sympy.N(reading, 60)
    if not value.is_real:
        return None
    return Fraction(str(value))


def plain_math_verify(gold: str, response: str) -> list:
    """The peer grader as its documentation uses it: ``verify(parse(gold), parse(response))``, the gold
    given as LaTeX. [verdict, what it extracted from the response]."""
    gold_text = gold if "$" in gold or "\\boxed" in gold else f"${gold}$"
    gold_readings = parse(gold_text, parsing_timeout=None)
    readings = parse(response, parsing_timeout=None)
    extracted = str(readings[-1]) if readings else None
    if not gold_readings or not readings:
        return [False, extracted]
    return [bool(verify(gold_readings, readings, timeout_seconds=None)), extracted]


OPERATIONS = {"equal": symbolically_equal, "plain": plain_math_verify}
FAILED = {"equal": False, "plain": [False, None]}  # the answer of an operation that raised
