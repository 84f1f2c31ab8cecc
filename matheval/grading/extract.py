"""Find the final answer in a model's response, as the model wrote it.

Only the answer part is read: after a reasoning model's ``</think>``, nothing of an unfinished reasoning
(:mod:`matheval.grading.reasoning`). The rules go from the most explicit marker to the least, so that a
response that says what its answer is never has it second-guessed:

1. the last complete ``\\boxed{...}`` (or ``\\fbox{...}``, or ``\\boxed 5``); boxes next to it, joined only
   by commas or "and" (``\\boxed{2}, \\boxed{5}``), are kept with it as written: grading reads them
   together when the gold answer has several parts;
2. the last "The (final) answer is X" / "Answer: X"; a worded statement after it ("the smallest $k$ is
   12") is read after its last "is";
3. the last ``#### X`` (GSM8K's own format);
4. the final statement: the last math span (``$y \\leq 7$``, ``\\[ ... \\]``) unless a number comes after
   it (math-verify's own rule without an anchor: the rightmost LaTeX, which its parser then reads);
   else the last number (``1,000``, ``-2.5``, ``3/4``, ``\\frac{3}{4}``, ``2.5e4``).

Rules 1-3 are explicit; rule 4 guesses, so a truncated response (cut at the token cap) gets none of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from matheval.grading.reasoning import THINK_CLOSE, THINK_OPEN, split_reasoning

_BOX = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
_ANSWER_IS = re.compile(
    r"\banswers?\s*(?:is\b|are\b|was\b|were\b|would\s+be\b|will\s+be\b|=|:)\s*:?\s*", re.IGNORECASE
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
    | -?\d+(?:\.\d+)?[eE][+-]?\d+(?![\w.])                                # 2.5e4
    | -?\d+(?:\.\d+)?\s*/\s*\d+(?:\.\d+)?(?![\d.,])                       # 3/4
    | -?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)                                # 1,000.5
    | -?\d+(?:\.\d+)?                                                     # 12, -2.5
    | -?\.\d+                                                             # .5
    )
    """,
    re.VERBOSE,
)
# Math spans: display ($$ $$, \[ \]) may cross lines, inline ($ $, \( \)) may not; \$ is a dollar sign.
_SPAN = re.compile(
    r"\$\$(?P<a>.+?)\$\$|\\\[(?P<b>.+?)\\\]|\\\((?P<c>.+?)\\\)|(?<![\\$])\$(?P<d>(?:\\\$|[^$\n])+?)(?<!\\)\$"
    r"|(?P<e>\[\s*\[[^\[\]]*\](?:\s*,\s*\[[^\[\]]*\])*\s*\])",  # and a matrix as a list of rows: [[1, 2], [3, 4]]
    re.DOTALL,
)
_SPAN_JOINER = re.compile(r"\s*(?:,\s*(?:and|or)?|and|or)\s*$")
_BOX_JOINER = re.compile(  # between boxes that are one answer: "\\boxed{2}, \\boxed{5}", "$x = \\boxed{-1}$ or $x = $"
    r"(?:[\s$,;]|\\quad|\\qquad|\\text\s*\{\s*(?:,|and|or)?\s*\}|\band\b|\bor\b|[A-Za-z](?:_\{?\w+\}?)?\s*=)*")
_COPULA = re.compile(r"\s(?:is|are|equals|was|be)\s|\s=\s", re.IGNORECASE)
_COMMANDS = re.compile(r"\\[A-Za-z]+\*?(?:\{[A-Za-z ]*\})?")  # \\begin{pmatrix}, \\text{cm}
_PROSE_WORD = re.compile(r"(?<![\w\\])[A-Za-z]{2,}(?![\w^_({])")  # not "2ab", "\\sin", "xy^2"

RULES = ("boxed", "answer_is", "hashes", "bare", "latex", "number")


@dataclass(frozen=True)
class Found:
    """What grading reads in a response: the answer as written (None if there is none), the rule that
    found it (one of RULES), and whether the response was truncated (guessing rules were not used)."""

    answer: str | None
    rule: str | None
    truncated: bool = False


def find_answer(text: str, finish_reason: str | None = None, *, bare: bool = False,
                markers: tuple[str, str] = (THINK_OPEN, THINK_CLOSE)) -> Found:
    """The final answer of a response, by the module's rules.

    `finish_reason` "length" (cut at the token cap) allows only the explicit rules 1-3. `bare` also takes a
    short line without any marker whole (``x = 5``, ``Evelyn``), as when grading a bare answer.
    """
    split = split_reasoning(text or "", *markers)
    truncated = finish_reason == "length" or split.unfinished
    part = split.answer
    if not part.strip():
        return Found(None, None, truncated)
    for rule, find in (("boxed", _last_boxed), ("answer_is", _last_answer_is), ("hashes", _last_hashes)):
        found = find(part)
        if found:
            return Found(found, rule, truncated)
    if truncated:
        return Found(None, None, True)
    if bare:
        whole = _clean(part)
        if "\n" not in whole and not re.search(r"(?<!\\)\$", whole) and 0 < len(whole) <= _BARE_ANSWER_CHARS and looks_bare(whole):
            return Found(whole, "bare", False)
    answer, rule = _final_statement(part)
    return Found(answer, rule, False)


_BARE_ANSWER_CHARS = 80  # a one-line response this short with no marker is taken whole as the answer


def extract_answer(text: str, finish_reason: str | None = None) -> str | None:
    """The model's final answer as written, or None when the text holds none (see module docstring)."""
    return find_answer(text, finish_reason).answer if text else None


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


def looks_bare(line: str) -> bool:
    """Whether a short line is an answer (``5 cm``, ``x = 5``, ``New York``) rather than a sentence,
    whose answer would be its last number."""
    stripped = _COMMANDS.sub(" ", line)
    words = len(_PROSE_WORD.findall(stripped))
    return words < 2 or (words <= 3 and not re.search(r"\d", stripped))


def box_contents(text: str) -> list[str]:
    """The contents of every complete box in the text, in order."""
    return [content for _, _, content in _boxes(text) if content]


def _clean(answer: str) -> str:
    answer = answer.strip()
    previous = None
    while answer != previous:
        previous = answer
        answer = answer.strip()
        if not answer.startswith("\\$"):
            answer = answer.lstrip("$")
        if not answer.endswith("\\$"):
            answer = answer.rstrip("$")
        answer = answer.strip("*").strip()  # "*" for markdown bold: "**5**"
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


def _boxes(text: str) -> list[tuple[int, int, str | None]]:
    """(start, end, content) of each box; content None for a box cut off by max_tokens."""
    boxes = list(_BOX.finditer(text))
    closing = _closing_braces(text) if boxes else {}
    found = []
    for match in boxes:
        brace = _SPACES.match(text, match.end()).end()
        if text.startswith("{", brace):  # \\boxed{...}
            end = closing.get(brace)
            found.append((match.start(), end + 1 if end is not None else len(text),
                          _clean(text[brace + 1 : end]) if end is not None else None))
        else:  # \\boxed 5: the next token
            token = _TOKEN.match(text, match.end())
            found.append((match.start(), token.end() if token else match.end(),
                          _clean(token.group(1)) if token else None))
    return found


def _last_boxed(text: str) -> str | None:
    boxes = _boxes(text)
    for index in range(len(boxes) - 1, -1, -1):
        if not boxes[index][2]:
            continue
        group = [boxes[index]]
        for earlier in reversed(boxes[:index]):  # neighbours joined by nothing but ", " / "and"
            if not earlier[2] or not _BOX_JOINER.fullmatch(text[earlier[1] : group[0][0]]):
                break
            group.insert(0, earlier)
        if len(group) == 1:
            return group[0][2]
        return ", ".join(f"\\boxed{{{content}}}" for _, _, content in group)
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
    """The answer that follows a marker: the math spans that open right there, else the sentence."""
    rest = text[start : start + _WINDOW].lstrip("* ")  # "**Answer:** $5$" in markdown
    spans = _leading_spans(rest)
    if spans:
        return ", ".join(spans)
    line = rest.split("\n", 1)[0]
    # The sentence ends at a period followed by a space or the end, never inside a number ("12.5").
    sentence = _clean(re.split(r"\.(?:\s|$)", line, maxsplit=1)[0])
    if not sentence or looks_bare(sentence):
        return sentence or None
    return _answer_in_sentence(sentence)


def _leading_spans(rest: str) -> list[str]:
    """The math spans at the start of `rest`, joined there by commas or "and" ("$2$ and $5$")."""
    spans, position = [], 0
    while True:
        match = _SPAN.match(rest, position)
        if not match:
            return spans
        content = _clean(next(group for group in match.groups() if group is not None))
        if content:
            spans.append(content)
        gap = re.match(r"\s*(?:,\s*(?:and|or)?|and|or)\s*(?=\$|\\\(|\\\[)", rest[match.end():])
        if not gap:
            return spans
        position = match.end() + gap.end()


def _answer_in_sentence(sentence: str) -> str | None:
    """A worded statement's answer: what follows its last "is" / "=" ("the smallest $k$ is 12"), else its
    last math span, else its last number, else the statement itself."""
    copulas = list(_COPULA.finditer(sentence))
    if copulas:
        after = _clean(sentence[copulas[-1].end():])
        if after and looks_bare(after):
            return after
    spans = [m for m in _SPAN.finditer(sentence) if _is_math(m)]
    if spans:
        return _clean(_span_content(spans[-1]))
    numbers = _NUMBER.findall(sentence)
    return _clean(numbers[-1]) if numbers else sentence


def _span_content(match: re.Match) -> str:
    return next(group for group in match.groups() if group is not None)


def _is_math(match: re.Match) -> bool:
    """A span that holds math, not two dollar amounts of prose ("$18 per hour, so in total $")."""
    content = _span_content(match)
    return bool(content.strip()) and len(_PROSE_WORD.findall(_COMMANDS.sub(" ", content))) < 2


def _final_statement(text: str) -> tuple[str | None, str | None]:
    """Rule 4: the answer of the response's final statement."""
    spans = [m for m in _SPAN.finditer(text) if _is_math(m)]
    pieces, position = [], 0
    for span in spans:  # numbers inside math spans are the spans' business
        pieces += [text[position : span.start()], " " * (span.end() - span.start())]
        position = span.end()
    outside = "".join(pieces) + text[position:]
    numbers = list(_NUMBER.finditer(outside))
    if not spans or (numbers and numbers[-1].start() >= spans[-1].end()):
        return (_clean(numbers[-1].group()), "number") if numbers else (None, None)
    last = spans[-1]
    group = [last]  # spans joined by commas or "and" at the end: "$x = 1$ and $x = 2$"
    for earlier in reversed(spans[:-1]):
        if not _SPAN_JOINER.fullmatch(text[earlier.end() : group[0].start()]):
            break
        group.insert(0, earlier)
    contents = [_clean(_span_content(m)) for m in group]
    if re.match(r"\s*(?:\\?%|percent\b)", text[last.end():]):  # "$50$\%"
        contents[-1] += "\\%"
    return ", ".join(contents) or None, "latex"
