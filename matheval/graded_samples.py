"""Grading what a plain evaluation hands back beyond its one response: its N samples, the tokens its
reasoning took, and its forced answers (the budget curve).

Each sample is graded whole, as the response is: the text after the reasoning markers is read, and a
truncated sample (cut at the cap, or its reasoning never closed) gets no guessed answer. `prefix` is what
the assistant turn held before the generated text (the preset's prefill, or the "<think>" a chat template
writes itself), so that a reasoning block opened there is seen as open. The samples' answers are grouped by
mathematical equality once, here (`sample_groups`), so cons@k for any k is counted later without grading
again (metrics.sampled).
"""

from __future__ import annotations

from .agents.base import Attempt
from .data.problem import Problem
from .grading import grade, group_answers, split_reasoning, vote

Markers = tuple[str, str]


def grade_samples(problem: Problem, attempt: Attempt, prefix: str, markers: Markers) -> dict:
    grades = [grade(prefix + text, problem.answer, finish_reason=reason, markers=markers)
              for text, reason in zip(attempt.sample_texts, attempt.sample_finish_reasons)]
    answers = [g.extracted for g in grades]
    groups = group_answers(answers)
    group_of: list[int | None] = [None] * len(answers)
    for number, members in enumerate(groups):
        for index in members:
            group_of[index] = number
    majority = vote(answers)
    winner = next((g for g in grades if g.extracted is not None and g.extracted == majority), None)
    return {
        "samples": answers,
        "samples_correct": [g.correct for g in grades],
        "samples_truncated": [g.truncated for g in grades],
        "sample_groups": group_of,
        "sample_responses": list(attempt.sample_texts),
        "sample_finish_reasons": list(attempt.sample_finish_reasons),
        "sample_tokens": list(attempt.sample_tokens),
        "vote": majority,
        "vote_correct": bool(winner and winner.correct),
    }


def count_reasoning(texts: list[str], tokens: list[int], prefix: str, markers: Markers, counter) -> dict:
    """Tokens of reasoning and of answer, summed over the texts: the answer part (after the closing marker,
    or all of a text without markers) is counted with the model's tokenizer, the rest of the text's
    generated tokens is reasoning. An unfinished reasoning is all reasoning."""
    answer = 0
    for text, count in zip(texts, tokens):
        split = split_reasoning(prefix + text, *markers)
        answer += min(count, counter.count(split.answer)) if split.answer.strip() else 0
    return {"reasoning_tokens": sum(tokens) - answer, "answer_tokens": answer}


def grade_forced(problem: Problem, forced: dict, samples_correct: list[bool], markers: Markers) -> dict:
    """The budget curve of one problem: at each budget, each sample's correctness, its own answer where it
    had finished by then, else the forced answer's (read by the explicit rules alone when the forced
    continuation itself ran out); the forced answers themselves (None where the sample's own counted)."""
    correct, cut, answers = {}, {}, {}
    for budget, texts in forced["texts"].items():
        flags, found = [], []
        for own, text, reason in zip(samples_correct, texts, forced["finish_reasons"][budget]):
            result = None if text is None else grade(text, problem.answer, finish_reason=reason, markers=markers)
            flags.append(own if result is None else result.correct)
            found.append(None if result is None else result.extracted)
        correct[budget], answers[budget] = flags, found
        cut[budget] = sum(text is not None for text in texts)
    return {"budget_correct": correct, "budget_answers": answers, "budget_forced": cut,
            "budget_tokens": forced["tokens"]}
