"""`standard`: one chain of thought, one call. The base evaluation and every agent table's baseline."""

from __future__ import annotations

from ..data.problem import Problem
from ..grading import extract_answer
from ..prompts import build_messages
from .base import LLM, AgentParams, Attempt


async def solve(problem: Problem, llm: LLM, params: AgentParams) -> Attempt:
    messages = build_messages(problem, params.mode, params.examples)
    completion = await llm.generate(messages, role="answer")
    return Attempt(answer=extract_answer(completion.text), response=completion.text)
