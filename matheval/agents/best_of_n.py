"""N sampled solutions, each scored 1-10 by a judge; the best-scored one is the answer.

The verifier idea of Cobbe et al. 2021, "Training Verifiers to Solve Math Word Problems"
(arXiv:2110.14168), with an LLM as the judge (Zheng et al. 2023, "Judging LLM-as-a-Judge",
arXiv:2306.05685) instead of a trained verifier. The judge is the model itself, or the model given by
--verifier (a second engine of the run). Its score is read from its text ("Score: N"); a judge that
gives no score ranks its candidate last. Ties go to the answer more candidates share, then to the first.
All judges of a problem run concurrently. Candidates with no answer are not judged.

Calls per problem: 1 (N sequences) + one judge call per candidate with an answer (at most 1 + N).
"""

from __future__ import annotations

from ..data.problem import Problem
from ..grading import extract_answer
from ..prompts import build_messages
from .base import LLM, AgentParams, Attempt, gather
from .scoring import parse_score
from .voting import majority, votes_per_candidate

USES_VERIFIER = True

JUDGE_REQUEST = (
    "Here is a math problem and a proposed solution.\n\n"
    "Problem:\n{question}\n\n"
    "Proposed solution:\n{solution}\n\n"
    "Check the solution step by step. Then rate how likely its final answer is correct, from 1 "
    "(certainly wrong) to 10 (certainly correct). End your reply with a line of the form \"Score: N\"."
)


async def solve(problem: Problem, llm: LLM, params: AgentParams) -> Attempt:
    messages = build_messages(problem, params.mode, params.examples)
    samples = await llm.generate(messages, role="sample", n=params.num_runs, diverse=True)
    candidates = samples.texts
    answers = [extract_answer(text, reason) for text, reason in zip(candidates, samples.finish_reasons)]
    judged = [i for i, answer in enumerate(answers) if answer is not None]

    async def judge(index: int) -> str:
        request = JUDGE_REQUEST.format(question=problem.question, solution=candidates[index])
        verdict = await llm.generate([{"role": "user", "content": request}], role="judge", engine="verifier",
                                     temperature=0.0)
        return verdict.text

    verdicts = dict(zip(judged, await gather(*(judge(i) for i in judged))))
    scores = {i: parse_score(text) for i, text in verdicts.items()}
    votes = votes_per_candidate(answers)
    best = max(judged, key=lambda i: (scores[i] if scores[i] is not None else -1, votes[i], -i), default=None)
    _, tally = majority(answers)
    return Attempt(answer=answers[best] if best is not None else None,
                   response=candidates[best if best is not None else 0], samples=answers,
                   extra={"scores": [scores.get(i) for i in range(len(candidates))], "chosen": best,
                          "votes": tally})
