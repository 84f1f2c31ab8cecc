"""N debaters answer, then read each other's answers and update for --rounds rounds; final answer by vote.

Du et al. 2023, "Improving Factuality and Reasoning in Language Models through Multiagent Debate"
(arXiv:2305.14325). The first answers are one request with n=N (shared prompt). In each round, every
debater sees its own latest solution and the others' latest solutions and writes an updated one; the N
debaters of a round run concurrently. Debaters sample (--sample_temperature, --sample_top_p), and keep
only their latest solution in context, so prompts stay bounded by N solutions. The final answer is the
majority of the last round (ties: first debater). Needs --num_runs >= 2.

Calls per problem: 1 (N sequences) + rounds·N.
"""

from __future__ import annotations

from ..data.problem import Problem
from ..errors import UserError
from ..grading import extract_answer
from ..prompts import build_messages
from .base import LLM, AgentParams, Attempt, gather
from .voting import majority

UPDATE_REQUEST = (
    "Here are solutions to the same problem from other agents:\n\n{others}\n\n"
    "Using their reasoning as additional information, examine your solution and theirs step by step, "
    "and give your updated solution. Put your final answer within \\boxed{{}}."
)


def check(params: AgentParams) -> None:
    """Called by run_eval before the model loads."""
    if params.num_runs < 2:
        raise UserError("debate needs at least 2 debaters: use --num_runs 2 or more")


async def solve(problem: Problem, llm: LLM, params: AgentParams) -> Attempt:
    check(params)
    question = build_messages(problem, params.mode, params.examples)
    first = await llm.generate(question, role="debate", n=params.num_runs, diverse=True)
    solutions = first.texts
    rounds = [[extract_answer(text, reason) for text, reason in zip(solutions, first.finish_reasons)]]

    async def update(debater: int, latest: list[str]) -> tuple[str, str]:
        others = "\n\n".join(f"Agent {number}'s solution:\n{text}"
                             for number, text in enumerate(latest, start=1) if number - 1 != debater)
        messages = question + [{"role": "assistant", "content": latest[debater]},
                               {"role": "user", "content": UPDATE_REQUEST.format(others=others)}]
        completion = await llm.generate(messages, role="debate", diverse=True)
        return completion.text, completion.finish_reasons[0]

    for _ in range(params.rounds):
        updated = await gather(*(update(i, solutions) for i in range(params.num_runs)))
        solutions = [text for text, _ in updated]
        rounds.append([extract_answer(text, reason) for text, reason in updated])
    final = rounds[-1]
    winner, tally = majority(final)
    return Attempt(answer=final[winner] if winner is not None else None,
                   response=solutions[winner if winner is not None else 0], samples=final,
                   extra={"answers_per_round": rounds, "votes": tally})
