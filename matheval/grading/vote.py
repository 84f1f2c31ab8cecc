"""Majority vote over answers, grouping by mathematical equality rather than string equality."""

from __future__ import annotations

from matheval.grading.equivalence import DEFAULT_TIMEOUT, same_answer


def group_answers(answers: list[str | None], timeout: float = DEFAULT_TIMEOUT) -> list[list[int]]:
    """Indices of the answers, grouped so that each group holds equal answers, in first-seen order.
    Missing answers (None) belong to no group."""
    groups: list[list[int]] = []
    for index, answer in enumerate(answers):
        if answer is None:
            continue
        for group in groups:
            if same_answer(answers[group[0]], answer, timeout=timeout):
                group.append(index)
                break
        else:
            groups.append([index])
    return groups


def vote(answers: list[str | None], timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """The answer most answers agree with; a tie goes to the answer seen first. None if no answers."""
    groups = group_answers(answers, timeout)
    if not groups:
        return None
    best = max(groups, key=len)  # max keeps the first of equal-sized groups: first seen wins
    return answers[best[0]]
