"""Re-asks with its previous answers as hints until two consecutive answers agree, or --max_iters.

Zheng et al. 2023, "Progressive-Hint Prompting Improves Reasoning in Large Language Models"
(arXiv:2304.09797). The question is asked again with "(Hint: The answer is near to A, B.)", the hints
being the distinct answers so far, newest first. Answers agree by mathematical equality. A response
with no answer gives nothing to hint, which ends the loop. Greedy throughout (--temperature).

Calls per problem: 1 + k, k <= max_iters hinted re-asks.
"""

from __future__ import annotations

from dataclasses import replace

from ..data.problem import Problem
from ..grading import extract_answer, same_answer
from ..prompts import build_messages
from .base import LLM, AgentParams, Attempt


def hinted(problem: Problem, hints: list[str]) -> Problem:
    return replace(problem, question=f"{problem.question} (Hint: The answer is near to {', '.join(hints)}.)")


def distinct_newest_first(answers: list[str | None]) -> list[str]:
    hints: list[str] = []
    for answer in reversed(answers):
        if answer is not None and not any(same_answer(answer, kept) for kept in hints):
            hints.append(answer)
    return hints


async def solve(problem: Problem, llm: LLM, params: AgentParams) -> Attempt:
    response = (await llm.generate(build_messages(problem, params.mode, params.examples), role="answer")).text
    answers = [extract_answer(response)]
    agreed = False
    for _ in range(params.max_iters):
        hints = distinct_newest_first(answers)
        if not hints:
            break
        messages = build_messages(hinted(problem, hints), params.mode, params.examples)
        response = (await llm.generate(messages, role="hint")).text
        answers.append(extract_answer(response))
        if answers[-1] is not None and answers[-2] is not None and same_answer(answers[-1], answers[-2]):
            agreed = True
            break
    return Attempt(answer=answers[-1], response=response,
                   extra={"answers": answers, "hinted_asks": len(answers) - 1, "agreed": agreed})
