"""N sampled chains of thought; the most common answer wins (self-consistency).

Wang et al. 2022, "Self-Consistency Improves Chain of Thought Reasoning in Language Models"
(arXiv:2203.11171). The N samples (--sample_temperature 0.7, --sample_top_p 0.95) are ONE request with
n=N, so the engine shares the prompt among them. Answers are grouped by mathematical equality (0.5 and
1/2 vote together); a tie goes to the answer seen first.

Calls per problem: 1 (N sequences).
"""

from __future__ import annotations

import asyncio

from ..data.problem import Problem
from ..grading import extract_answer
from ..prompts import build_messages
from .base import LLM, AgentParams, Attempt
from .voting import majority


async def solve(problem: Problem, llm: LLM, params: AgentParams) -> Attempt:
    messages = build_messages(problem, params.mode, params.examples)
    samples = await llm.generate(messages, role="sample", n=params.num_runs, diverse=True)
    answers = [extract_answer(text, reason) for text, reason in zip(samples.texts, samples.finish_reasons)]
    winner, tally = await asyncio.to_thread(majority, answers)  # grouping may wait on symbolic checks
    return Attempt(answer=answers[winner] if winner is not None else None,
                   response=samples.texts[winner if winner is not None else 0],
                   samples=answers, extra={"votes": tally})
