"""Reading a judge's verdict: the 1-10 score it gives, or whether a critique found an error.

Judges are the model's own text (best_of_n, tree_search's self-evaluation, self_refine's critique), so
parsing is lenient about the form ("Score: 7", "**Score:** 7/10", "8 out of 10", a bare "7") and returns
None rather than guessing when there is no score at all; callers rank an unscored candidate last.
"""

from __future__ import annotations

import re

MAX_SCORE = 10

_LABELLED = re.compile(r"score\s*(?:of|is|=|:)?[\s*:]*(\d+(?:\.\d+)?)", re.IGNORECASE)
_OUT_OF = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(?:/|out\s+of)\s*10\b", re.IGNORECASE)
_BARE = re.compile(r"^[\s*]*(\d+(?:\.\d+)?)[\s*.]*$")
_VERDICT = re.compile(r"verdict\s*[:\-]?[\s*]*(in)?correct\b", re.IGNORECASE)
_NO_ERROR = re.compile(r"\bno (?:errors?|mistakes?|issues?)\b", re.IGNORECASE)


def parse_score(text: str) -> float | None:
    """The last score the text gives on the 1-10 scale, or None when it gives none (or one off the scale)."""
    for pattern in (_LABELLED, _OUT_OF):
        found = pattern.findall(text or "")
        if found:
            return _on_scale(float(found[-1]))
    bare = _BARE.match(text or "")
    return _on_scale(float(bare.group(1))) if bare else None


def _on_scale(value: float) -> float | None:
    return value if 0 <= value <= MAX_SCORE else None


def finds_no_error(critique: str) -> bool:
    """Whether a critique judges the solution correct: its last "VERDICT: CORRECT/INCORRECT" line, or,
    when it gives no verdict, a plain "no errors / no mistakes". Anything else counts as an error found."""
    verdicts = _VERDICT.findall(critique or "")
    if verdicts:
        return verdicts[-1] == ""  # the captured "in" is empty for CORRECT
    return bool(_NO_ERROR.search(critique or ""))
