"""Decide whether an answer equals the gold answer.

Both answers are first normalized (``>=`` is ``\\geq``, ``\\lt`` is ``<``, ``!=`` is ``\\neq``, a boxed gold
is its box, ``[[1, 2], [3, 4]]`` is a matrix), and several boxes of one answer are read together when the
gold has several parts (else the last box). Then cheap exact rules run, in this process; only what they
cannot settle goes to math-verify, in a worker process with a time limit (:mod:`matheval.grading.worker`):

1. the same text once spacing and LaTeX decoration (``\\left``, ``\\dfrac``, ``\\,``) are removed;
2. two plain numbers compare exactly as rationals (:mod:`matheval.grading.numbers`): GSM8K's 12.5 is never
   12; a long decimal matches an exact value only by the long-decimal rule;
3. two worded answers (``Evelyn``, ``\\text{odd}``) compare as words, case-insensitively (math-verify would
   read ``Amy`` as the product a*m*y and accept ``May``);
4. everything else (expressions, sets, intervals, tuples in order, matrices, relations) is math-verify's
   call, with the long-decimal rule for a decimal against an exact irrational value.

A check that runs out of time counts as not equivalent; none of these functions raises for a bad answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from matheval.errors import UserError
from matheval.grading.extract import box_contents, clean_answer, explicit_answer, find_answer
from matheval.grading.numbers import TEXT_COMMAND, parse_number
from matheval.grading.reasoning import THINK_CLOSE, THINK_OPEN
from matheval.grading.worker import symbolic_check

DEFAULT_TIMEOUT = 5.0
_MAX_ANSWER_CHARS = 2000  # longer "answers" are runaway generations, not answers: not worth parsing


@dataclass(frozen=True)
class Grade:
    """The answer found in a response (None when there was none) and whether it matches the gold.
    `truncated`: the response was cut off (finish reason "length", or an unfinished ``<think>``), so only
    an explicit answer counted. `rule`: which extraction rule found the answer."""

    extracted: str | None
    correct: bool
    truncated: bool = False
    rule: str | None = field(default=None, compare=False)


def grade(response: str, gold: str, timeout: float = DEFAULT_TIMEOUT, finish_reason: str | None = None,
          markers: tuple[str, str] = (THINK_OPEN, THINK_CLOSE)) -> Grade:
    """Extract the answer from `response` (its part after the reasoning `markers`) and compare it with `gold`."""
    _check_timeout(timeout)
    found = find_answer(response or "", finish_reason, bare=True, markers=markers)
    correct = found.answer is not None and _equal(gold, found.answer, timeout)
    return Grade(found.answer, correct, found.truncated, found.rule)


def is_equivalent(prediction_text: str, gold: str, timeout: float = DEFAULT_TIMEOUT,
                  finish_reason: str | None = None) -> bool:
    """Whether the answer in `prediction_text` (a full response or a bare answer) equals `gold`."""
    return grade(prediction_text, gold, timeout, finish_reason).correct


def same_answer(a: str, b: str, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Whether two extracted answers are mathematically equal; symmetric, for grouping votes."""
    _check_timeout(timeout)
    first, second = sorted((_joined(a), _joined(b)))  # math-verify is not symmetric: fix the order
    return _equal(first, second, timeout)


def answer_to_grade(text: str) -> str | None:
    """The answer a response gives: a marked one, else the whole text if it is a short bare answer
    (``\\frac{1}{2}``, ``x = 5``, ``Evelyn``), else its final statement's."""
    return find_answer(text or "", bare=True).answer


def _check_timeout(timeout: float) -> None:
    if not timeout > 0:
        raise UserError(f"the grading time limit must be a positive number of seconds, not {timeout!r}")


def _equal(gold: str, prediction: str, timeout: float) -> bool:
    boxed = explicit_answer(gold) if "\\boxed" in gold else None  # None too for an empty or unclosed box
    gold = normalize(boxed if boxed is not None else clean_answer(gold))
    prediction = normalize(clean_answer(prediction))
    boxes = box_contents(prediction) if prediction.startswith("\\boxed") else []
    if len(boxes) > 1:  # "\boxed{2}, \boxed{5}" as extracted: one answer in parts, or the last box
        prediction = normalize(_join(boxes, gold) if several_parts(gold) else boxes[-1])
    if not gold or not prediction or max(len(gold), len(prediction)) > _MAX_ANSWER_CHARS:
        return False
    if _canonical(gold) == _canonical(prediction):
        return True
    gold_number = parse_number(gold)
    predicted_number = parse_number(prediction, decimal_comma=gold_number is not None and "." in gold)
    if gold_number is not None and predicted_number is not None:
        return predicted_number.equals(gold_number)
    gold_words, predicted_words = _words(gold), _words(prediction)
    if gold_words is not None and predicted_words is not None:
        return gold_words == predicted_words
    return _symbolic(gold, prediction, timeout)


@lru_cache(maxsize=16384)
def _symbolic(gold: str, prediction: str, timeout: float) -> bool:
    # Cached: votes and retries compare the same pairs again, and a pair that timed out would again.
    return symbolic_check(gold, prediction, timeout) is True


# ---- normalization -----------------------------------------------------------------------------------

_RELATIONS = (
    (re.compile(r"\\geqslant|\\ge(?![a-zA-Z])|≥|>="), r"\\geq "),
    (re.compile(r"\\leqslant|\\le(?![a-zA-Z])|≤|<="), r"\\leq "),
    (re.compile(r"\\ne(?![a-zA-Z])|≠|!="), r"\\neq "),
    (re.compile(r"\\lt(?![a-zA-Z])"), "<"),
    (re.compile(r"\\gt(?![a-zA-Z])"), ">"),
)
_LIST_MATRIX = re.compile(r"\[\s*\[(.*)\]\s*\]", re.DOTALL)


def normalize(answer: str) -> str:
    """One spelling for what is written several ways: relation operators, Python-style matrices."""
    for pattern, replacement in _RELATIONS:
        answer = pattern.sub(replacement, answer)
    matrix = _LIST_MATRIX.fullmatch(answer.strip())
    if matrix:
        rows = [row.split(",") for row in re.split(r"\]\s*,\s*\[", matrix.group(1))]
        if len({len(row) for row in rows}) == 1:
            body = r" \\ ".join(" & ".join(cell.strip() for cell in row) for row in rows)
            answer = rf"\begin{{pmatrix}} {body} \end{{pmatrix}}"
    return answer.strip()


def several_parts(answer: str) -> bool:
    """Whether an answer lists several values at its top level (``1, 2``, ``\\{2, 5\\}``, ``(1,3),(4,5)``,
    ``2 \\text{ and } 5``); ``(1, 2)``, an interval or a plain number with thousands (``1,000``) is one."""
    text = re.sub(r"^\\left\\\{|\\right\\\}$", "", answer.strip())
    text = re.sub(r"^\\\{|\\\}$", "", text)
    text = re.sub(r"^\\left\s*[(\[]|\\right\s*[)\]]$", "", text)
    if re.fullmatch(r"[(\[].*[)\]]", text, re.DOTALL):  # a tuple's entries are its parts
        text = text[1:-1]
    if parse_number(text) is not None:
        return False
    depth = 0
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and ch in ",;":
            return True
    return bool(re.search(r"\\text\s*\{\s*(?:and|or)\s*\}|\s(?:and|or)\s", text))


def _join(parts: list[str], gold: str) -> str:
    joined = ", ".join(parts)
    return rf"\{{{joined}\}}" if gold.lstrip().startswith(("\\{", "\\left\\{")) else joined


def _joined(answer: str) -> str:
    """A box group read as one answer in parts (votes compare such answers with each other)."""
    boxes = box_contents(answer) if answer and answer.lstrip().startswith("\\boxed") else []
    return ", ".join(boxes) if len(boxes) > 1 else answer


# ---- exact rules -------------------------------------------------------------------------------------

_DECORATION = re.compile(r"\\left|\\right|\\displaystyle|\\[,;:! ]|~|\s+")


def _canonical(answer: str) -> str:
    """The answer with what never changes its meaning removed: spacing, sizing, fraction styles."""
    text = _DECORATION.sub("", answer).replace("{,}", ",").replace("\u2212", "-")
    text = re.sub(r"\\[dt]frac", r"\\frac", text)
    return text.replace("^{\\circ}", "^\\circ")


_WORDED = re.compile(r"[A-Za-z][A-Za-z '\-]*")


def _words(answer: str) -> str | None:
    """A worded answer in lower case without decoration, or None if the answer is not worded.

    Worded means letters only with at least one word of three or more letters: shorter tokens (``C``,
    ``xy``) are left to math-verify, which reads them as choices or products of variables.
    """
    text = TEXT_COMMAND.sub(lambda m: m.group(1), answer)
    text = re.sub(r"[().,]", " ", text)
    text = " ".join(text.split())
    if not _WORDED.fullmatch(text) or not re.search(r"[A-Za-z]{3}", text):
        return None
    return text.lower()
