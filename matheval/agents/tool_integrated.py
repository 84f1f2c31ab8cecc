"""Reasoning interleaved with Python: each ```python block runs in the sandbox and its output comes back.

Tool-integrated reasoning as in ToRA (Gou et al. 2023, arXiv:2309.17452) and Qwen2.5-Math (Yang et al.
2024, arXiv:2409.12122). Generation stops when a ```python block closes; the block runs in the sandbox;
its output (or the error's last line) is appended as a ```output block and the model continues, up to
--max_calls executions per solution. Each block runs after the solution's earlier blocks (their
printing silenced), so it can use the names they defined, as in a notebook. With N = --num_runs > 1 there
are N sampled solutions (their first segments one request with n=N, then each continues on its own,
concurrently) and the final answer is their majority; N = 1 is one greedy solution. The prompt is the
agent's own (--mode does not apply), or the preset's where the preset asks for code (qwen2.5-math-tir: the
system prompt of Qwen2.5-Math's tool-integrated evaluation, which runs up to 4 programs as --max_calls does).

Calls per problem: at most 1 + N·max_calls (the N first segments are one request), plus one sandbox run
per executed block.
"""

from __future__ import annotations

from ..data.problem import Problem
from ..grading import extract_answer
from ..prompts import build_messages
from .base import LLM, AgentParams, Attempt, gather
from .programs import shown_output, trailing_program, with_earlier_cells
from .voting import majority

NEEDS_SANDBOX = True

STOPS = ("```output", "\n```\n")  # a closed ```python block: time to run it
TOOL_REQUEST = (
    "Solve the following problem. Reason step by step, and use Python where a computation helps: write each "
    "program in a ```python block and end the block with ```; its output will be shown to you in an ```output "
    "block. Put your final answer within \\boxed{{}}.\n\n"
    "Problem: {question}"
)


async def solve(problem: Problem, llm: LLM, params: AgentParams) -> Attempt:
    question = (build_messages(problem, "standard", preset=params.preset) if params.preset.code
                else [{"role": "user", "content": TOOL_REQUEST.format(question=problem.question)}])
    sampled = params.num_runs > 1
    sampling = dict(stop=STOPS, diverse=sampled)
    first = await llm.generate(question, role="reason", n=params.num_runs, **sampling)
    solutions = await gather(*(carry_on(llm, question, text, reason, params.max_calls, sampling)
                               for text, reason in zip(first.texts, first.finish_reasons)))
    answers = [solution["answer"] for solution in solutions]
    winner, tally = majority(answers)
    chosen = winner if winner is not None else 0
    return Attempt(answer=answers[winner] if winner is not None else None,
                   response=solutions[chosen]["transcript"], samples=answers,
                   extra={"solutions": [{"executions": s["executions"], "answer": s["answer"]} for s in solutions],
                          "executions": sum(len(s["executions"]) for s in solutions), "votes": tally})


async def carry_on(llm: LLM, question: list[dict], segment: str, reason: str, max_calls: int,
                   sampling: dict) -> dict:
    """One solution from its first segment on: while a segment ends with a program to run (and executions
    remain), run it, append its output, and let the model continue."""
    transcript, executions, earlier = "", [], []
    while True:
        transcript += segment
        program = trailing_program(segment) if reason == "stop" else None
        if program is None or len(executions) >= max_calls:
            break
        code, closed = program
        result = await llm.run_code(with_earlier_cells(earlier, code))
        output = shown_output(result.stdout, result.stderr, result.error)
        executions.append({"code": code, "output": output, "ok": result.ok})
        if result.ok:
            earlier.append(code)
        if not closed:  # generation stopped at the closing fence, which the stop string removed
            transcript = transcript.rstrip("\n") + "\n```"
        transcript += ("" if transcript.endswith("\n") else "\n") + f"```output\n{output}\n```\n"
        step = await llm.generate(question + [{"role": "assistant", "content": transcript}], role="reason",
                                  **sampling)
        segment, reason = step.text, step.finish_reasons[0]
    return {"transcript": transcript, "executions": executions, "answer": extract_answer(transcript, reason)}
