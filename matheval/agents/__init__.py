"""Agent registry: name -> `async solve(problem, llm, params) -> Attempt`.

`standard` is the plain evaluation and the baseline of every agent table; the others are the
inference-time strategies of docs/agents.md, one module each.
"""

from . import (best_of_n, debate, majority_vote, program_of_thoughts, progressive_hint, self_refine, standard,
               tool_integrated, tree_search)
from .base import LLM, Agent, AgentParams, Attempt, Call, Tools, gather

AGENTS: dict[str, Agent] = {
    "standard": standard.solve,
    "majority_vote": majority_vote.solve,
    "best_of_n": best_of_n.solve,
    "self_refine": self_refine.solve,
    "progressive_hint": progressive_hint.solve,
    "debate": debate.solve,
    "tree_search": tree_search.solve,
    "program_of_thoughts": program_of_thoughts.solve,
    "tool_integrated": tool_integrated.solve,
}

__all__ = ["AGENTS", "LLM", "Agent", "AgentParams", "Attempt", "Call", "Tools", "gather"]
