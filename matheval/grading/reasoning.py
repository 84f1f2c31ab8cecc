"""Reasoning models write their thinking first (``<think> ... </think>``) and their answer after it.

Grading reads only the answer part: a number the model tried and dropped while thinking is not its answer.
:func:`split_reasoning` is the one place that knows the markers; reasoning presets (other models' markers)
pass their own.
"""

from __future__ import annotations

from dataclasses import dataclass

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


@dataclass(frozen=True)
class Split:
    """A response cut into its reasoning and its answer part.

    `closed` is None when the response has no reasoning markers (all of it is the answer part), True when
    its reasoning ended, and False when the reasoning never ended (cut off while thinking): then the answer
    part is empty, because the model has not answered yet.
    """

    reasoning: str
    answer: str
    closed: bool | None

    @property
    def unfinished(self) -> bool:
        return self.closed is False


def split_reasoning(text: str, open_marker: str = THINK_OPEN, close_marker: str = THINK_CLOSE) -> Split:
    """Split at the last `close_marker`. Chat templates often put `open_marker` in the prompt, so a
    response may hold only the closing one; a response with an opening marker and no closing one is
    unfinished."""
    text = text or ""
    end = text.rfind(close_marker) if close_marker else -1
    if end >= 0:
        reasoning = text[:end]
        start = reasoning.find(open_marker) if open_marker else -1
        if start >= 0:
            reasoning = reasoning[start + len(open_marker):]
        return Split(reasoning.strip(), text[end + len(close_marker):], True)
    start = text.find(open_marker) if open_marker else -1
    if start >= 0:
        return Split(text[start + len(open_marker):].strip(), "", False)
    return Split("", text, None)
