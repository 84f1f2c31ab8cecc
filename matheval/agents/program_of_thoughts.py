"""The model writes a Python program; the sandbox runs it; what it prints is the answer (vote over N).

Program of Thoughts (Chen et al. 2022, arXiv:2211.12588) and PAL (Gao et al. 2022, arXiv:2211.10435):
computation is delegated to the interpreter. The N programs are one request with n=N (sampled with
--sample_temperature/--sample_top_p when N > 1, greedy when N = 1); all of a problem's programs run in the
sandbox concurrently. The answer of a program is the last line it prints; a program that fails or prints
nothing has none. The final answer is the majority of the programs' answers (ties: first program).
The prompt is the agent's own (--mode does not apply).

Calls per problem: 1 (N sequences), plus N sandbox runs.
"""

from __future__ import annotations

from ..data.problem import Problem
from .base import LLM, AgentParams, Attempt, gather
from .programs import MAX_SHOWN_OUTPUT, answer_from_output, extract_program
from .voting import majority

NEEDS_SANDBOX = True

PROGRAM_REQUEST = (
    "Write a Python program that solves the following problem and prints the final answer. Use exact "
    "arithmetic (fractions, sympy) where it matters. Print only the answer, on the last line. Reply with the "
    "program in one ```python block.\n\n"
    "Problem: {question}"
)


async def solve(problem: Problem, llm: LLM, params: AgentParams) -> Attempt:
    messages = [{"role": "user", "content": PROGRAM_REQUEST.format(question=problem.question)}]
    sampled = params.num_runs > 1
    written = await llm.generate(messages, role="program", n=params.num_runs, diverse=sampled)
    programs = [extract_program(text) for text in written.texts]
    runs = await gather(*(execute(llm, code) for code in programs))
    answers = [run["answer"] for run in runs]
    winner, tally = majority(answers)
    return Attempt(answer=answers[winner] if winner is not None else None,
                   response=written.texts[winner if winner is not None else 0], samples=answers,
                   extra={"programs": runs, "votes": tally})


async def execute(llm: LLM, code: str | None) -> dict:
    """Run one written program in the run's sandbox (never in this process); its record for the trace."""
    if code is None:
        return {"code": None, "ok": False, "stdout": "", "error": "no program in the response", "answer": None}
    result = await llm.run_code(code)
    return {"code": code, "ok": result.ok, "stdout": result.stdout[:MAX_SHOWN_OUTPUT], "error": result.error,
            "seconds": round(result.seconds, 3), "answer": answer_from_output(result.stdout) if result.ok else None}
