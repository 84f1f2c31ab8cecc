"""Find the final answer in a model's response, as the model wrote it.

The rules go from the most explicit marker to the least, so that a response that says what its answer
is never has it second-guessed:

1. the content of the last complete ``\\boxed{...}`` (or ``\\fbox{...}``, or ``\\boxed 5``);
2. the last "The (final) answer is X" / "Answer: X";
3. the last ``#### X`` (GSM8K's own format);
4. the last number in the text (``1,000``, ``-2.5``, ``3/4``, ``\\frac{3}{4}`` count as numbers).

Only the last step guesses, which is why :func:`explicit_answer` exists on its own: equivalence checking
uses it to tell a marked answer from a bare one.
"""

from __future__ import annotations

import re

_BOX = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
_ANSWER_IS = re.compile(
    r"\banswer\s*(?:is\b|was\b|would\s+be\b|will\s+be\b|=|:)\s*:?\s*", re.IGNORECASE
)
_HASHES = re.compile(r"####\s*")
_SPACES = re.compile(r"\s*")
_TOKEN = re.compile(r"\s*([^\s$]+)")
_WINDOW = 5000  # characters after a marker that may hold its answer
_MARKDOWN_HEADING = re.compile(r"[A-Za-z]{2,}")
_NUMBER = re.compile(
    r"""
    (?<![A-Za-z_\d.])  # not part of a name or of a longer number: "sepehr2010", "a_1"
    (?:
    -?\\[dt]?frac\s*(?:\{\s*-?\d+(?:\.\d+)?\s*\}|\d)\s*(?:\{\s*-?\d+(?:\.\d+)?\s*\}|\d)  # \frac{3}{4}, \frac34
    | -?\d+(?:\.\d+)?\s*/\s*\d+(?:\.\d+)?(?![\d.,])                       # 3/4
    | -?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)                                # 1,000.5
    | -?\d+(?:\.\d+)?                                                     # 12, -2.5
    | -?\.\d+                                                             # .5
    )
    """,
    re.VERBOSE,
)
# Math delimiters an answer may be wrapped in after "The answer is".
_MATH_SPANS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))


def extract_answer(text: str) -> str | None:
    """The model's final answer as written, or None when the text holds none (see module docstring)."""
    if not text:
        return None
    found = explicit_answer(text)
    if found is not None:
        return found
    numbers = _NUMBER.findall(text)
    return _clean(numbers[-1]) if numbers else None


def explicit_answer(text: str) -> str | None:
    """The answer the text marks as its answer (rules 1 to 3), or None when it marks none."""
    for rule in (_last_boxed, _last_answer_is, _last_hashes):
        found = rule(text)
        if found:
            return found
    return None


def clean_answer(answer: str) -> str:
    """Strip what surrounds an answer but is not part of it: whitespace, ``$``, trailing periods."""
    return _clean(answer)


def _clean(answer: str) -> str:
    answer = answer.strip()
    previous = None
    while answer != previous:
        previous = answer
        answer = answer.strip().strip("$*").strip()  # "*" for markdown bold: "**5**"
        answer = re.sub(r"(?:\\[,;!: ]|\s)*\.+$", "", answer)  # "5." and "5\,." but keep "5.5"
        for start, end in (("\\(", "\\)"), ("\\[", "\\]")):
            if answer.startswith(start) and answer.endswith(end):
                answer = answer[len(start) : -len(end)]
    return answer.strip()


def _closing_braces(text: str) -> dict[int, int]:
    """Where each brace that gets closed is closed, in one pass (escaped braces ``\\{`` do not count).

    One pass for all boxes, so that a runaway response full of unclosed boxes stays linear.
    """
    closing: dict[int, int] = {}
    open_at: list[int] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            open_at.append(i)
        elif ch == "}" and open_at:
            closing[open_at.pop()] = i
        i += 1
    return closing


def _last_boxed(text: str) -> str | None:
    boxes = list(_BOX.finditer(text))
    closing = _closing_braces(text) if boxes else {}
    for match in reversed(boxes):
        brace = _SPACES.match(text, match.end()).end()
        if text.startswith("{", brace):  # \\boxed{...}; one cut off by max_tokens does not count
            content = _clean(text[brace + 1 : closing[brace]]) if brace in closing else None
        else:  # \\boxed 5: the next token
            token = _TOKEN.match(text, match.end())
            content = _clean(token.group(1)) if token else None
        if content:
            return content
    return None


def _last_answer_is(text: str) -> str | None:
    for match in reversed(list(_ANSWER_IS.finditer(text))):
        content = _statement_after(text, match.end())
        if content:
            return content
    return None


def _last_hashes(text: str) -> str | None:
    for match in reversed(list(_HASHES.finditer(text))):
        line = text[match.end() : match.end() + _WINDOW].split("\n", 1)[0]
        if _MARKDOWN_HEADING.match(line):  # "#### Step 2: ..." in a chat model's answer is a heading
            continue
        content = _clean(line)
        if content:
            return content
    return None


def _statement_after(text: str, start: int) -> str | None:
    """The answer that follows a marker: a math span if one opens right there, else the sentence."""
    rest = text[start : start + _WINDOW].lstrip("* ")  # "**Answer:** $5$" in markdown
    for open_, close in _MATH_SPANS:
        if rest.startswith(open_):
            end = rest.find(close, len(open_))
            if end > 0:
                return _clean(rest[len(open_) : end]) or None
    line = rest.split("\n", 1)[0]
    # The sentence ends at a period followed by a space or the end, never inside a number ("12.5").
    sentence = re.split(r"\.(?:\s|$)", line, maxsplit=1)[0]
    return _clean(sentence) or None
