"""Runs problems x runs as concurrent workflows, grades them, and journals each as it finishes.

The runner owns concurrency and durability, nothing else: agents decide what to ask, engines decide
how to batch, grading decides what is correct, results decides where it goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import asdict, dataclass
from typing import Callable

from .agents.base import LLM, Agent, AgentParams, Attempt, Tools
from .data.problem import Problem
from .engines.base import Engine, ReplicaLost
from .grading import is_equivalent, vote
from .results import Journal


@dataclass
class RunSpec:
    problems: list[Problem]
    agent: Agent
    params: AgentParams
    seed: int = 0
    runs: int = 1  # independent repetitions of the whole agent per problem
    concurrency: int = 64
    keep_trace: bool = True
    tools: Tools | None = None  # other engines and the sandbox, shared by every workflow


def grade_attempt(problem: Problem, attempt: Attempt) -> dict:
    """Correctness of the final answer, and of each candidate for pass@N / maj@N."""
    graded = {"extracted": attempt.answer, "correct": attempt.answer is not None and is_equivalent(attempt.answer, problem.answer)}
    if attempt.samples:
        graded["samples"] = attempt.samples
        graded["samples_correct"] = [s is not None and is_equivalent(s, problem.answer) for s in attempt.samples]
        majority = vote(attempt.samples)
        graded["vote"] = majority
        graded["vote_correct"] = majority is not None and is_equivalent(majority, problem.answer)
    return graded


def make_record(problem: Problem, run: int, attempt: Attempt, llm: LLM, seconds: float, keep_trace: bool) -> dict:
    calls = llm.finished_calls
    record = {
        "id": problem.id,
        "run": run,
        "question": problem.question,
        "gold": problem.answer,
        "response": attempt.response,
        **grade_attempt(problem, attempt),
        "prompt_tokens": sum(c.prompt_tokens for c in calls),
        "completion_tokens": sum(sum(c.completion_tokens) for c in calls),
        "calls": len(calls),
        "seconds": round(seconds, 3),
        "finish_reason": calls[-1].finish_reasons[0] if calls and calls[-1].finish_reasons else None,
        "metadata": problem.metadata,
    }
    record["tokens"] = record["prompt_tokens"] + record["completion_tokens"]
    if attempt.extra:
        record["agent"] = attempt.extra
    if keep_trace:
        record["trace"] = [asdict(call) for call in calls]
    return record


async def run_workflows(spec: RunSpec, engine: Engine, journal: Journal,
                        on_record: Callable[[dict], None] | None = None,
                        on_start: Callable[[Problem, int], None] | None = None) -> None:
    """Solve every (problem, run) the journal does not hold yet; stop at the first failure."""
    todo = [(p, r) for p in spec.problems for r in range(spec.runs) if (p.id, r) not in journal]
    limit = asyncio.Semaphore(max(1, spec.concurrency))
    tools = spec.tools or Tools()
    engines = [engine, *tools.engines.values()]

    def track() -> contextlib.ExitStack:
        """Mark the workflow live on every batching engine, so each can flush once all are waiting."""
        stack = contextlib.ExitStack()
        for each in engines:
            if hasattr(each, "workflow"):
                stack.enter_context(each.workflow())
        return stack

    async def solve_one(problem: Problem, run: int) -> None:
        async with limit:
            if on_start is not None:
                on_start(problem, run)
            while True:  # once, unless the engine replica serving it dies: then again, on another
                with track():
                    llm = LLM(engine, spec.seed, problem.id, run, spec.params, tools)
                    started = time.perf_counter()
                    try:
                        attempt = await spec.agent(problem, llm, spec.params)
                    except ReplicaLost:
                        continue
                    seconds = time.perf_counter() - started
                break
            # graded in a thread: a symbolic check waits on a math-verify child process (tens of ms, seconds
            # at first), which must hold up neither the event loop nor the other problems' grading
            record = await asyncio.to_thread(make_record, problem, run, attempt, llm, seconds, spec.keep_trace)
            journal.append(record)
            if on_record is not None:
                on_record(record)

    tasks = [asyncio.ensure_future(solve_one(p, r)) for p, r in todo]
    if not tasks:
        return
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:  # on failure or Ctrl-C, stop the other workflows; what they finished is journaled
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()


def ordered_records(spec: RunSpec, journal: Journal) -> list[dict]:
    """The journal's records in dataset order (the answers file is read by humans)."""
    return [journal.records[(p.id, r)] for p in spec.problems for r in range(spec.runs) if (p.id, r) in journal]
