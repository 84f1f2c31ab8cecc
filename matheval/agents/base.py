"""What every agent shares: the LLM handle it awaits, the trace it leaves, the Attempt it returns.

An agent is `async def solve(problem, llm, params) -> Attempt`, written as plain sequential code.
Many run concurrently; the engine behind `llm` batches whatever they await at the same moment.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Awaitable, Callable

from ..data.problem import Problem
from ..engines.base import Completion, Engine, Messages, Sampling
from ..errors import UserError
from ..generation import GenerationSettings
from ..presets import DEFAULT_PRESET, PRESETS, Preset

if TYPE_CHECKING:
    from ..sandbox import SandboxPool, SandboxResult


@dataclass
class Call:
    """One engine call as the trace records it: why it was made, what went in, what came out."""

    role: str  # e.g. "answer", "critique", "refine", "judge", "debate", "code"
    messages: Messages
    texts: list[str]
    prompt_tokens: int
    completion_tokens: list[int]
    finish_reasons: list[str]
    seconds: float
    step: int = 1  # position in the workflow's chain of dependent calls (calls awaited together share it)
    engine: str | None = None  # a named engine from Tools.engines ("verifier"), None for the model itself

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + sum(self.completion_tokens)


@dataclass
class Attempt:
    """An agent's result for one problem.

    `answer` is the final answer (already extracted); `response` the text shown as the model's final
    response; `samples` the candidate answers an agent considered (majority vote's N samples,
    debaters' answers), graded separately for pass@k and cons@k. A plain evaluation with --num_samples
    hands back its samples' whole texts instead (`sample_texts`, with their finish reasons and token
    counts), which the runner grades one by one, reasoning traces and truncation included, and the
    texts of its forced answers (`forced`, see agents.budget_forcing).
    """

    answer: str | None
    response: str
    samples: list[str | None] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    sample_texts: list[str] = field(default_factory=list)
    sample_finish_reasons: list[str] = field(default_factory=list)
    sample_tokens: list[int] = field(default_factory=list)
    forced: dict | None = None


@dataclass
class AgentParams:
    """Settings shared by all agents; each agent reads the ones it needs."""

    mode: str = "standard"  # prompt mode of the first answer
    examples: list[Problem] = field(default_factory=list)  # few-shot examples for mode "fewshot"
    num_runs: int = 1  # the agent's width: samples, debaters, beams...
    generation: GenerationSettings = field(default_factory=GenerationSettings)  # how every call samples
    preset: Preset = field(default_factory=lambda: PRESETS[DEFAULT_PRESET])  # prompt wording, prefill, cue
    num_samples: int = 1  # the plain evaluation's samples per problem (one request, n = num_samples)
    budgets: tuple[int, ...] = ()  # token budgets of the budget curve (agents.budget_forcing); () = none
    # What the assistant turn holds before the generated text: the preset's prefill, or the "<think>\n" a chat
    # template writes itself (set by evaluate from the model's template; derived, so not part of the identity)
    response_prefix: str = ""
    max_iters: int = 3
    rounds: int = 2
    beam_width: int = 2
    expansions: int = 3
    max_depth: int = 8
    max_calls: int = 4
    verifier: str | None = None
    extra: dict = field(default_factory=dict)

    def check(self) -> None:
        """Refuse settings no agent can use, naming the flag, before any model is loaded (the
        generation settings checked themselves when they were built)."""
        for name in ("num_runs", "num_samples", "max_iters", "rounds", "beam_width", "expansions", "max_depth",
                     "max_calls"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"--{name} must be a positive integer, got {value!r}")
        cap = self.generation.max_new_tokens
        for budget in self.budgets:
            if isinstance(budget, bool) or not isinstance(budget, int) or not 0 < budget <= cap:
                raise UserError(f"--budgets: each budget must be a whole number of tokens from 1 to the cap "
                                f"(--max_new_tokens {cap}), got {budget!r}")

    def identity(self) -> dict:
        """The settings that change answers (resume refuses to mix runs that differ in these)."""
        values = asdict(self)
        values["examples"] = [example.id for example in self.examples]
        del values["generation"]
        values.update(self.generation.identity())  # flat, as journals before the record named them
        # Recorded only where they differ from the defaults, so that journals written before presets,
        # samples and budgets existed still resume (their runs used exactly those defaults).
        values.pop("preset")
        values.pop("response_prefix")
        if self.preset.identity() != PRESETS[DEFAULT_PRESET].identity():
            values["preset"] = self.preset.identity()
        if self.num_samples == 1:
            values.pop("num_samples")
        if self.budgets:
            values["budgets"] = list(self.budgets)  # as JSON reads it back
        else:
            values.pop("budgets")
        return values


def derive_seed(*parts) -> int:
    """A stable 31-bit seed from any parts (same on every machine and Python version)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass
class Tools:
    """What a workflow may use besides its model, shared by all workflows of a run: other engines by
    name (a separate judge model as "verifier"), the sandbox that runs model-written code, and the model's
    tokenizer for counting and cutting texts (`engines.tokens.TokenText`: reasoning tokens, budget forcing).
    `run_eval` creates them only when the run needs them (`--verifier`, `NEEDS_SANDBOX`, a plain evaluation)."""

    engines: dict[str, Engine] = field(default_factory=dict)
    sandbox: SandboxPool | None = None
    tokens: object | None = None  # count(text) -> int, head(text, n) -> str


_step: contextvars.ContextVar[int] = contextvars.ContextVar("matheval_agent_step", default=0)
"""The step of the last call this task's chain of work waited on (see `gather`)."""


async def gather(*awaitables):
    """`asyncio.gather` for the independent branches of one workflow (debaters, candidates, beams):
    they run concurrently, so their requests reach the engine together. It also carries the branches'
    step count back to the caller, so that a call made after them is recorded one step deeper."""

    async def branch(awaitable):
        result = await awaitable
        return result, _step.get()  # read in the branch's own task, where its calls set it

    finished = await asyncio.gather(*(branch(a) for a in awaitables))
    _step.set(max([_step.get()] + [step for _, step in finished]))
    return [result for result, _ in finished]


class LLM:
    """The engine as one workflow sees it: it records every call, and gives each call its own
    seed derived from (run seed, problem, attempt, call number), so a seeded run yields the same
    answers whatever the concurrency or batch composition.

    Each call also records its step, the length of the chain of calls it waited on. Requests at the
    same step of different problems could all share a batch; `benchmarks/agent_batching.py` counts
    the engine calls that would take as the ideal."""

    def __init__(self, engine: Engine, seed: int, problem_id: str, run: int, params: AgentParams,
                 tools: Tools | None = None):
        self.engine = engine
        self.seed = seed
        self.key = f"{problem_id}:{run}"
        self.params = params
        self.tools = tools or Tools()
        self.calls: list[Call] = []

    def sampling(self, diverse: bool = False, **overrides) -> Sampling:
        return replace(self.params.generation.sampling(diverse), **overrides)

    async def generate(self, messages: Messages, *, role: str = "answer", engine: str | None = None,
                       diverse: bool = False, **sampling) -> Completion:
        """Generate with the run's settings, overridden per call (n, stop, max_tokens, ...).

        `diverse=True` takes the run's sample_temperature/sample_top_p (several diverse samples) instead of
        its single-answer temperature/top_p. `engine` names another engine of the run (e.g. "verifier");
        when the run has none by that name, the model itself answers."""
        target = self.tools.engines.get(engine) if engine else None
        chosen = self.sampling(diverse, **sampling)
        chosen = replace(chosen, seed=derive_seed(self.seed, self.key, len(self.calls)))
        self.calls.append(None)  # reserve the call number before awaiting (ordering stays stable)
        index = len(self.calls) - 1
        step = _step.get() + 1
        started = time.perf_counter()
        completion = await (target or self.engine).generate(messages, chosen)
        self.calls[index] = Call(role, messages, completion.texts, completion.prompt_tokens,
                                 completion.completion_tokens, completion.finish_reasons,
                                 time.perf_counter() - started, step, engine if target else None)
        _step.set(step)
        return completion

    async def run_code(self, code: str) -> SandboxResult:
        """Run a model-written program in the run's sandbox (agents that do declare NEEDS_SANDBOX)."""
        if self.tools.sandbox is None:
            raise RuntimeError("this run has no sandbox: an agent that runs code must set NEEDS_SANDBOX = True "
                               "in its module so that run_eval creates one")
        return await self.tools.sandbox.run(code)

    @property
    def finished_calls(self) -> list[Call]:
        return [call for call in self.calls if call is not None]


Agent = Callable[[Problem, LLM, AgentParams], Awaitable[Attempt]]


def needs_sandbox(agent: Agent) -> bool:
    """Whether the agent's module declares NEEDS_SANDBOX = True (it runs model-written code)."""
    return bool(getattr(sys.modules.get(agent.__module__), "NEEDS_SANDBOX", False))


def check_params(agent: Agent, params: AgentParams) -> None:
    """The shared checks, then the agent module's own `check(params)` if it has one (e.g. debate needs
    two debaters): bad settings fail in one line before the model loads, not mid-run."""
    params.check()
    own = getattr(sys.modules.get(agent.__module__), "check", None)
    if own is not None:
        own(params)


def uses_verifier(agent: Agent) -> bool:
    """Whether the agent's module declares USES_VERIFIER = True (it can ask a separate judge model)."""
    return bool(getattr(sys.modules.get(agent.__module__), "USES_VERIFIER", False))
