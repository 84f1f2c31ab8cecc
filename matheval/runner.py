"""Runs problems x runs as concurrent workflows, grades them, and journals each as it finishes.

The runner owns concurrency and durability, nothing else: agents decide what to ask, engines decide
how to batch, grading decides what is correct, results decides where it goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from .agents.base import LLM, Agent, AgentParams, Attempt, Tools
from .data.problem import Problem
from .engines.base import Engine, ReplicaLost
from .graded_samples import count_reasoning, grade_forced, grade_samples
from .grading import extract_answer, grade, is_equivalent, split_reasoning, vote
from .grading.graders import DEFAULT_GRADER, get_grader
from .grading.reasoning import THINK_CLOSE, THINK_OPEN
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
    grader: str = DEFAULT_GRADER  # who decides `correct` (matheval.grading.graders)
    count_reasoning: bool = False  # the plain evaluation counts reasoning and answer tokens (tools.tokens)


def grade_attempt(problem: Problem, attempt: Attempt, finish_reason: str | None = None,
                  grader: str = DEFAULT_GRADER, prefix: str = "",
                  markers: tuple[str, str] = (THINK_OPEN, THINK_CLOSE)) -> dict:
    """Correctness of the final answer, and of each candidate for pass@N / maj@N.

    When the answer is the response's own (most agents), the response is graded with its finish reason, so
    a truncated one gets no guessed answer; an answer from elsewhere (a program's output) is graded as is.
    `prefix`: what the assistant turn held before the response (a prefill "<think>\n")."""
    text = prefix + attempt.response
    if attempt.answer is not None and attempt.answer in (extract_answer(text, finish_reason), extract_answer(text)):
        result = grade(text, problem.answer, finish_reason=finish_reason, markers=markers)
        graded = {"extracted": result.extracted, "correct": result.correct, "truncated": result.truncated}
    elif attempt.answer is None:
        graded = {"extracted": None, "correct": False,
                  "truncated": finish_reason == "length" or split_reasoning(text, *markers).unfinished}
    else:
        graded = {"extracted": attempt.answer, "correct": is_equivalent(attempt.answer, problem.answer),
                  "truncated": False}
    if grader != DEFAULT_GRADER:  # a peer grader decides the final verdict; candidates stay ours
        peer = get_grader(grader)(attempt.response, problem.answer, finish_reason)
        graded.update(extracted=peer.extracted, correct=peer.correct, grader=grader)
    if attempt.samples:
        graded["samples"] = attempt.samples
        graded["samples_correct"] = [s is not None and is_equivalent(s, problem.answer) for s in attempt.samples]
        majority = vote(attempt.samples)
        graded["vote"] = majority
        graded["vote_correct"] = majority is not None and is_equivalent(majority, problem.answer)
    return graded


@dataclass
class ShareClock:
    """Each workflow's share of the run's wall time: the integral of dt / (workflows live at t). Unlike a
    workflow's own seconds (which include queueing for its batch, so they grow with the batch size), the
    shares add up to the run's wall time, so they say what a problem cost the engine ("engine seconds":
    GPU-seconds on a GPU)."""

    live: int = 0
    total: float = 0.0
    last: float = field(default_factory=time.perf_counter)

    def _advance(self) -> None:
        now = time.perf_counter()
        if self.live:
            self.total += (now - self.last) / self.live
        self.last = now

    @contextlib.contextmanager
    def share(self):
        self._advance()
        self.live += 1
        start, box = self.total, [0.0]
        try:
            yield box
        finally:
            self._advance()
            self.live -= 1
            box[0] = self.total - start


def response_finish_reason(response: str, calls: list) -> str | None:
    """Why the text shown as the response ended (a vote's winner need not be the last call's first text)."""
    for call in reversed(calls):
        for text, reason in zip(call.texts, call.finish_reasons):
            if text == response:
                return reason
    return None


def make_record(problem: Problem, run: int, attempt: Attempt, llm: LLM, seconds: float, keep_trace: bool,
                grader: str = DEFAULT_GRADER, engine_seconds: float | None = None,
                count_reasoning_tokens: bool = False) -> dict:
    calls = llm.finished_calls
    finish_reason = calls[-1].finish_reasons[0] if calls and calls[-1].finish_reasons else None
    if attempt.forced is not None and calls:  # forced answers come after: the response is the first call's
        finish_reason = calls[0].finish_reasons[0]
    params = llm.params
    prefix, markers = params.response_prefix, params.preset.think_markers
    record = {
        "id": problem.id,
        "run": run,
        "question": problem.question,
        "gold": problem.answer,
        "response": attempt.response,
        **grade_attempt(problem, attempt, response_finish_reason(attempt.response, calls) or finish_reason, grader,
                        prefix, markers),
        "prompt_tokens": sum(c.prompt_tokens for c in calls),
        "completion_tokens": sum(sum(c.completion_tokens) for c in calls),
        "calls": len(calls),
        "seconds": round(seconds, 3),
        "engine_seconds": None if engine_seconds is None else round(engine_seconds, 3),
        "finish_reason": finish_reason,
        "metadata": problem.metadata,
    }
    record["tokens"] = record["prompt_tokens"] + record["completion_tokens"]
    if attempt.sample_texts:
        record.update(grade_samples(problem, attempt, prefix, markers))
    if count_reasoning_tokens and llm.tools.tokens is not None and calls:
        texts = attempt.sample_texts or [attempt.response]
        record.update(count_reasoning(texts, attempt.sample_tokens or calls[0].completion_tokens[:1], prefix,
                                      markers, llm.tools.tokens))
    if attempt.forced is not None:
        own = record.get("samples_correct") or [record["correct"]]
        record.update(grade_forced(problem, attempt.forced, own, markers))
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
    clock = ShareClock()

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
            with clock.share() as share:  # its share of the engine, a lost replica's retries included
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
            record = await asyncio.to_thread(make_record, problem, run, attempt, llm, seconds, spec.keep_trace,
                                             spec.grader, share[0], spec.count_reasoning)
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
