"""The one record every dataset loader produces."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """A benchmark problem: what the model sees (question) and what it is graded against (answer).

    `id` is stable across runs and machines (resume keys on it); `metadata` holds dataset-specific
    fields such as level, subject or type, and never influences grading.
    """

    id: str
    question: str
    answer: str
    solution: str | None = None
    metadata: dict = field(default_factory=dict)
