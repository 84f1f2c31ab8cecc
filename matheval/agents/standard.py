"""`standard`: one chain of thought, one call. The base evaluation and every agent table's baseline.

With --num_samples N the call asks for N samples (one request, n = N; sample i seeded from the run's seed,
the problem and i), graded one by one by the runner for avg@N, pass@k and cons@k; the record's own
response is the first sample. With budgets (--budgets, or a reasoning preset) each sample's answer at each
token budget is forced as well (agents.budget_forcing).
"""

from __future__ import annotations

from ..data.problem import Problem
from ..grading import extract_answer
from ..prompts import build_messages, with_prefill
from .base import LLM, AgentParams, Attempt
from .budget_forcing import force_answers


async def solve(problem: Problem, llm: LLM, params: AgentParams) -> Attempt:
    messages = build_messages(problem, params.mode, params.examples, params.preset)
    prefix = params.response_prefix
    completion = await llm.generate(with_prefill(messages, params.preset), role="answer", n=params.num_samples)
    attempt = Attempt(answer=extract_answer(prefix + completion.text, completion.finish_reasons[0]),
                      response=completion.text)
    if params.num_samples > 1:
        attempt.sample_texts = list(completion.texts)
        attempt.sample_finish_reasons = list(completion.finish_reasons)
        attempt.sample_tokens = list(completion.completion_tokens)
    if params.budgets:
        attempt.forced = await force_answers(messages, completion, llm, params, prefix)
    return attempt
