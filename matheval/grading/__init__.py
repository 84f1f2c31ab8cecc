"""Answer extraction and equivalence: what a response answers, and whether that equals the gold answer.

`extract_answer` finds the answer as written; `is_equivalent` / `grade` compare a response with the gold
answer (exact for numbers and words, math-verify for the rest, always within a time limit, from any
thread); `same_answer` compares two extracted answers, for grouping votes.
"""

from matheval.grading.equivalence import (
    DEFAULT_TIMEOUT,
    Grade,
    answer_to_grade,
    grade,
    is_equivalent,
    same_answer,
)
from matheval.grading.extract import extract_answer
from matheval.grading.vote import group_answers, vote

__all__ = [
    "DEFAULT_TIMEOUT",
    "Grade",
    "answer_to_grade",
    "extract_answer",
    "grade",
    "group_answers",
    "is_equivalent",
    "same_answer",
    "vote",
]
