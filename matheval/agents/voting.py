"""Majority vote as the agents use it: the winning candidate and the tally a researcher wants to see.

Grouping is by mathematical equality (`grading.group_answers`: 0.5 and 1/2 are one answer), and a tie
goes to the answer seen first, as in `grading.vote`.
"""

from __future__ import annotations

from ..grading import group_answers


def majority(answers: list[str | None]) -> tuple[int | None, list[dict]]:
    """The index of the first candidate holding the most common answer (None when no candidate has an
    answer), and the tally: one {"answer", "votes"} per distinct answer, in first-seen order."""
    groups = group_answers(answers)
    if not groups:
        return None, []
    winner = max(groups, key=len)  # max keeps the first of equal groups: first seen wins a tie
    return winner[0], [{"answer": answers[group[0]], "votes": len(group)} for group in groups]


def votes_per_candidate(answers: list[str | None]) -> list[int]:
    """For each candidate, how many candidates (itself included) share its answer (0 for no answer)."""
    counts = [0] * len(answers)
    for group in group_answers(answers):
        for index in group:
            counts[index] = len(group)
    return counts
