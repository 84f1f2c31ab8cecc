"""Decide whether an answer equals the gold answer.

Three cheap exact rules run first, in this process; only what they cannot settle goes to math-verify,
in a worker process with a time limit (:mod:`matheval.grading.worker`):

- the same text once spacing and LaTeX decoration (``\\left``, ``\\dfrac``, ``\\,``) are removed;
- two plain numbers (``1,000``, ``-2.5``, ``\\frac{3}{4}``, ``50\\%``, ``90^\\circ``, ``5 \\text{ cm}``,
  ``x = 5``) compare exactly as rationals: GSM8K's 12.5 is never 12, and 0.333 is not 1/3;
- two worded answers (``Evelyn``, ``\\text{odd}``) compare as words, case-insensitively (math-verify would
  read ``Amy`` as the product a*m*y and accept ``May``).

Everything else (expressions, sets, intervals, tuples, matrices, equations) is math-verify's call. A check
that runs out of time counts as not equivalent; none of these functions raises for a bad answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from matheval.errors import UserError
from matheval.grading.extract import clean_answer, explicit_answer, extract_answer
from matheval.grading.worker import symbolic_check

DEFAULT_TIMEOUT = 5.0
_BARE_ANSWER_CHARS = 80  # a one-line response this short with no marker is taken whole as the answer
_MAX_ANSWER_CHARS = 2000  # longer "answers" are runaway generations, not answers: not worth parsing


@dataclass(frozen=True)
class Grade:
    """The answer found in a response (None when there was none) and whether it matches the gold."""

    extracted: str | None
    correct: bool


def grade(response: str, gold: str, timeout: float = DEFAULT_TIMEOUT) -> Grade:
    """Extract the answer from `response` and compare it with `gold`."""
    _check_timeout(timeout)
    answer = answer_to_grade(response)
    return Grade(answer, answer is not None and _equal(gold, answer, timeout))


def is_equivalent(prediction_text: str, gold: str, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Whether the answer in `prediction_text` (a full response or a bare answer) equals `gold`."""
    return grade(prediction_text, gold, timeout).correct


def same_answer(a: str, b: str, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Whether two extracted answers are mathematically equal; symmetric, for grouping votes."""
    _check_timeout(timeout)
    first, second = sorted((a, b))  # math-verify is not symmetric: fix the order so that we are
    return _equal(first, second, timeout)


def _check_timeout(timeout: float) -> None:
    if not timeout > 0:
        raise UserError(f"the grading time limit must be a positive number of seconds, not {timeout!r}")


def answer_to_grade(text: str) -> str | None:
    """The answer a response gives: a marked one, else the whole text if it is a short bare answer
    (``\\frac{1}{2}``, ``x = 5``, ``Evelyn``), else its last number."""
    if not text or not text.strip():
        return None
    marked = explicit_answer(text)
    if marked is not None:
        return marked
    whole = clean_answer(text)
    if "\n" not in whole and 0 < len(whole) <= _BARE_ANSWER_CHARS and _looks_bare(whole):
        return whole
    return extract_answer(text)


def _equal(gold: str, prediction: str, timeout: float) -> bool:
    gold, prediction = clean_answer(gold), clean_answer(prediction)
    if not gold or not prediction or max(len(gold), len(prediction)) > _MAX_ANSWER_CHARS:
        return False
    if _canonical(gold) == _canonical(prediction):
        return True
    gold_number, predicted_number = _number(gold), _number(prediction)
    if gold_number is not None and predicted_number is not None:
        return not gold_number.isdisjoint(predicted_number)
    gold_words, predicted_words = _words(gold), _words(prediction)
    if gold_words is not None and predicted_words is not None:
        return gold_words == predicted_words
    return _symbolic(gold, prediction, timeout)


@lru_cache(maxsize=16384)
def _symbolic(gold: str, prediction: str, timeout: float) -> bool:
    # Cached: votes and retries compare the same pairs again, and a pair that timed out would again.
    return symbolic_check(gold, prediction, timeout) is True


# ---- exact rules -------------------------------------------------------------------------------------

_DECORATION = re.compile(r"\\left|\\right|\\displaystyle|\\[,;:! ]|~|\s+")


def _canonical(answer: str) -> str:
    """The answer with what never changes its meaning removed: spacing, sizing, fraction styles."""
    text = _DECORATION.sub("", answer).replace("{,}", ",").replace("\u2212", "-")
    text = re.sub(r"\\[dt]frac", r"\\frac", text)
    return text.replace("^{\\circ}", "^\\circ")


_TEXT_COMMAND = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|rm)\s*\{([^{}]*)\}")
_PLAIN = r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|[+-]?\.\d+"
_FRACTION = re.compile(
    rf"(?P<sign>[+-]?)\\frac\{{(?P<num>{_PLAIN})\}}\{{(?P<den>{_PLAIN})\}}"
    rf"|(?P<sign2>[+-]?)\\frac(?P<num2>\d)(?P<den2>\d)"
    rf"|(?P<num3>{_PLAIN})/(?P<den3>{_PLAIN})"
)
_UNIT_WORDS = re.compile(r"(?:\s+[A-Za-z]{2,}\.?)+$")
_ASSIGNMENT = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*")


def _number(answer: str) -> frozenset[Fraction] | None:
    """The exact values a plain numeric answer may mean, or None if it is not one.

    A percentage may mean either value (``50\\%`` is 50 or 0.5): gold answers write it both ways.
    """
    text = _TEXT_COMMAND.sub(lambda m: " " + m.group(1) + " ", answer)
    text = re.sub(r"\\[,;:!]", "", text).replace("{,}", ",").replace("\u2212", "-")  # 1\\,000 10{,}000 −5
    text = re.sub(r"\\ |~|\\\$|\$", " ", text).strip()
    text = _ASSIGNMENT.sub("", text)
    text = _UNIT_WORDS.sub("", text)
    text = re.sub(r"\^\s*\{?\\circ\}?|°|\\degree", "", text)
    text = re.sub(r"\\[dt]frac", r"\\frac", text).replace(" ", "")  # as in LaTeX: "1 000" is 1000
    percent = text.endswith("%")
    text = text.removesuffix("\\%").removesuffix("%")
    if text.startswith("(") and text.endswith(")"):  # "(073)", as AoPS writes a choice's value
        text = text[1:-1]
    value = _exact(text)
    if value is None:
        return None
    return frozenset({value, value / 100}) if percent else frozenset({value})


def _exact(text: str) -> Fraction | None:
    if re.fullmatch(_PLAIN, text):
        return Fraction(text.replace(",", ""))
    match = _FRACTION.fullmatch(text)
    if not match:
        return None
    sign = match["sign"] or match["sign2"] or ""
    numerator = match["num"] or match["num2"] or match["num3"]
    denominator = match["den"] or match["den2"] or match["den3"]
    den = Fraction(denominator.replace(",", ""))
    if den == 0:
        return None
    value = Fraction(numerator.replace(",", "")) / den
    return -value if sign == "-" else value


_WORDED = re.compile(r"[A-Za-z][A-Za-z '\-]*")


def _words(answer: str) -> str | None:
    """A worded answer in lower case without decoration, or None if the answer is not worded.

    Worded means letters only with at least one word of three or more letters: shorter tokens (``C``,
    ``xy``) are left to math-verify, which reads them as choices or products of variables.
    """
    text = _TEXT_COMMAND.sub(lambda m: m.group(1), answer)
    text = re.sub(r"[().,]", " ", text)
    text = " ".join(text.split())
    if not _WORDED.fullmatch(text) or not re.search(r"[A-Za-z]{3}", text):
        return None
    return text.lower()


_PROSE_WORD = re.compile(r"(?<![\w\\])[A-Za-z]{2,}(?![\w^_({])")  # not "2ab", "\\sin", "xy^2"


def _looks_bare(line: str) -> bool:
    """Whether a short line is an answer (``5 cm``, ``x = 5``, ``New York``) rather than a sentence,
    whose answer would be its last number."""
    stripped = re.sub(r"\\[A-Za-z]+\*?(?:\{[A-Za-z ]*\})?", " ", line)  # \\begin{pmatrix}, \\text{cm}
    words = len(_PROSE_WORD.findall(stripped))
    return words < 2 or (words <= 3 and not re.search(r"\d", stripped))
