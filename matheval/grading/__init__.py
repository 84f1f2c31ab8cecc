"""Answer extraction and equivalence: what a response answers, and whether that equals the gold answer.

`extract_answer` / `find_answer` find the answer as written (after any ``</think>``; explicit rules only
for a truncated response); `is_equivalent` / `grade` compare a response with the gold answer (exact for
numbers and words, math-verify for the rest, always within a time limit, from any thread); `same_answer`
compares two extracted answers, for grouping votes; `split_reasoning` cuts a response into its reasoning
and its answer part. The full rules: docs/grading.md.
"""

from matheval.grading.equivalence import (
    DEFAULT_TIMEOUT,
    Grade,
    answer_to_grade,
    grade,
    is_equivalent,
    same_answer,
)
from matheval.grading.extract import Found, extract_answer, find_answer
from matheval.grading.reasoning import Split, split_reasoning
from matheval.grading.vote import group_answers, vote

__all__ = [
    "DEFAULT_TIMEOUT",
    "Found",
    "Grade",
    "Split",
    "answer_to_grade",
    "extract_answer",
    "find_answer",
    "grade",
    "group_answers",
    "is_equivalent",
    "same_answer",
    "split_reasoning",
    "vote",
]
