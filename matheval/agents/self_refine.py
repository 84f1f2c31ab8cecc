"""Answer, critique, refine; stops when the critique finds no error or after --max_iters refinements.

Madaan et al. 2023, "Self-Refine: Iterative Refinement with Self-Feedback" (arXiv:2303.17651). The
same model writes the answer, the feedback and the refinement. The critique ends with
"VERDICT: CORRECT" or "VERDICT: INCORRECT"; anything but a clear "correct" counts as an error found.
Greedy throughout (--temperature).

Calls per problem: 2k for a critique that passes at round k, else 1 + 2·max_iters (the last refinement
is not critiqued).
"""

from __future__ import annotations

from ..data.problem import Problem
from ..grading import extract_answer
from ..prompts import build_messages
from .base import LLM, AgentParams, Attempt
from .scoring import finds_no_error

CRITIQUE_REQUEST = (
    "Review the following solution to a math problem. Check every step for mistakes in reasoning or "
    "arithmetic.\n\n"
    "Problem:\n{question}\n\n"
    "Solution:\n{solution}\n\n"
    "If the solution is entirely correct, end with \"VERDICT: CORRECT\". Otherwise explain each mistake "
    "and end with \"VERDICT: INCORRECT\"."
)
REFINE_REQUEST = (
    "Here is feedback on your solution:\n\n{critique}\n\n"
    "Using this feedback, write a corrected solution. Please reason step by step, and put your final "
    "answer within \\boxed{{}}."
)


async def solve(problem: Problem, llm: LLM, params: AgentParams) -> Attempt:
    question = build_messages(problem, params.mode, params.examples)
    solution = (await llm.generate(question, role="answer")).text
    history = []
    for _ in range(params.max_iters):
        request = CRITIQUE_REQUEST.format(question=problem.question, solution=solution)
        critique = (await llm.generate([{"role": "user", "content": request}], role="critique")).text
        no_error = finds_no_error(critique)
        history.append({"answer": extract_answer(solution), "no_error": no_error})
        if no_error:
            break
        feedback = question + [{"role": "assistant", "content": solution},
                               {"role": "user", "content": REFINE_REQUEST.format(critique=critique)}]
        solution = (await llm.generate(feedback, role="refine")).text
    else:
        history.append({"answer": extract_answer(solution), "no_error": None})  # the last refinement
    refinements = sum(1 for step in history if step["no_error"] is False)
    return Attempt(answer=extract_answer(solution), response=solution,
                   extra={"refinements": refinements, "stopped_by_critique": bool(history[-1]["no_error"]),
                          "history": history})
