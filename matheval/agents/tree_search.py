"""Step-level beam search: sampled next steps, scored by self-evaluation; the best --beam_width survive.

Tree of Thoughts (Yao et al. 2023, arXiv:2305.10601) with breadth-first beam search over reasoning
steps, scored by the model's own evaluation as in Xie et al. 2023, "Self-Evaluation Guided Beam Search
for Reasoning" (arXiv:2305.00633). Each beam grows by --expansions sampled next steps per depth. A step is written after a "Step k:" label and ends at a blank line.
Every candidate partial solution is scored 1-10 by a short greedy self-evaluation ("Score: N"; no score
ranks last). A candidate is finished when its step holds a \\boxed answer, is empty, or used the whole
token budget. The search stops when the best kept candidate is finished, when no unfinished beam is
left, or at --max_depth; the answer is the best-scored candidate's. The expansions of all beams, and then
the scoring of all candidates, run concurrently.

Calls per problem, per depth: one expansion request per beam (--expansions sequences each) + one score
call per distinct candidate; at most (1 + k) at depth 1 and beam_width·(1 + k) after, for up to max_depth
depths.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data.problem import Problem
from ..grading import extract_answer
from ..prompts import build_messages
from .base import LLM, AgentParams, Attempt, gather
from .scoring import parse_score

STEP_END = "\n\n"
SCORE_TOKENS = 16  # the self-evaluation replies with a score only
SCORE_REQUEST = (
    "Problem:\n{question}\n\n"
    "Partial solution:\n{solution}\n\n"
    "Is this partial solution correct so far and on track to solve the problem? Rate it from 1 (wrong) "
    "to 10 (correct and promising). Reply with only \"Score: N\"."
)


@dataclass
class Node:
    steps: list[str]
    score: float | None = None
    done: bool = False

    def text(self) -> str:
        return "".join(f"Step {number}: {step}{STEP_END}" for number, step in enumerate(self.steps, start=1)).strip()

    def rank(self) -> float:
        return self.score if self.score is not None else -1.0


async def solve(problem: Problem, llm: LLM, params: AgentParams) -> Attempt:
    question = build_messages(problem, params.mode, params.examples)

    async def expand(node: Node) -> list[Node]:
        prefix = "".join(f"Step {n}: {step}{STEP_END}" for n, step in enumerate(node.steps, start=1))
        prefix += f"Step {len(node.steps) + 1}:"
        steps = await llm.generate(question + [{"role": "assistant", "content": prefix}], role="expand",
                                   n=params.expansions, stop=(STEP_END,), diverse=True)
        children, seen = [], set()
        for text, reason in zip(steps.texts, steps.finish_reasons):
            step = text.strip()
            if step in seen:
                continue
            seen.add(step)
            children.append(Node(node.steps + [step], done="\\boxed" in step or not step or reason == "length"))
        return children

    async def score(node: Node) -> None:
        request = SCORE_REQUEST.format(question=problem.question, solution=node.text())
        reply = await llm.generate([{"role": "user", "content": request}], role="score", temperature=0.0,
                                   max_tokens=min(params.generation.max_new_tokens, SCORE_TOKENS))
        node.score = parse_score(reply.text)

    frontier, finished, depths = [Node([])], [], []
    for _ in range(params.max_depth):
        children = [child for group in await gather(*(expand(node) for node in frontier)) for child in group]
        await gather(*(score(child) for child in children))
        kept = sorted(children, key=Node.rank, reverse=True)[:params.beam_width]  # stable: ties keep order
        depths.append({"candidates": len(children), "kept_scores": [node.score for node in kept]})
        finished += [node for node in kept if node.done]
        frontier = [node for node in kept if not node.done]
        if kept[0].done or not frontier:
            break
    best = max(finished + frontier, key=Node.rank)  # max keeps the first of equals: finished ones first
    return Attempt(answer=extract_answer(STEP_END.join(best.steps)),  # not text(): its "Step k" are numbers too
                   response=best.text(),
                   extra={"depth": len(depths), "score": best.score, "finished": best.done, "depths": depths})
