"""Agent registry: name -> `async solve(problem, llm, params) -> Attempt`."""

from . import standard
from .base import LLM, Agent, AgentParams, Attempt, Call

AGENTS: dict[str, Agent] = {
    "standard": standard.solve,
}

__all__ = ["AGENTS", "LLM", "Agent", "AgentParams", "Attempt", "Call"]
