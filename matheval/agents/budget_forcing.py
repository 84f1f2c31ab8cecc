"""Accuracy against the token budget, from one run: budget forcing.

For each budget B (1k, 2k, 4k, ... up to the cap, or --budgets), every sample that had not finished within
B tokens is cut at its first B tokens and handed back to the model as its own unfinished turn, followed by
the preset's answer cue ("</think>\\n\\n**Final Answer**\\n\\boxed{" for reasoning presets), and the model
writes at most FORCED_TOKENS more, greedily. A sample that finished within B keeps its own answer. This is
the "budget forcing" of Muennighoff et al. 2025 ("s1: Simple test-time scaling", arXiv:2501.19393), which
ends thinking at a budget by appending the end-of-thinking delimiter and "Final Answer:"; here it is
applied after the fact to the samples of one run, so the whole curve costs one run plus, per budget and
cut sample, one prefill of at most B + prompt tokens (shared with the sample's own prefix in engines with
a prefix cache: native, vLLM) and FORCED_TOKENS decoded tokens.

The cut is made on the re-tokenized response (the model's tokenizer), so B counts the same tokens the
engine counted, up to how a tokenizer re-encodes decoded text.
"""

from __future__ import annotations

from ..engines.base import Completion
from .base import LLM, AgentParams, gather

FORCED_TOKENS = 32  # enough for an AIME integer, a fraction or a short expression and its closing brace
FIRST_BUDGET = 1024


def auto_budgets(cap: int) -> tuple[int, ...]:
    """1k, 2k, 4k, ... below the cap, then the cap; a cap under 2k gets cap/8, cap/4, cap/2, cap instead,
    so that a short run (a CPU test) still draws a curve."""
    if cap < 2 * FIRST_BUDGET:
        return tuple(sorted({max(1, cap >> shift) for shift in (3, 2, 1, 0)}))
    budgets, budget = [], FIRST_BUDGET
    while budget < cap:
        budgets.append(budget)
        budget *= 2
    return tuple(budgets + [cap])


def finished_within(text: str, tokens: int, reason: str, budget: int, prefix: str, markers) -> bool:
    """A sample that stopped on its own within the budget, its reasoning (if any) closed."""
    if reason != "stop" or tokens > budget:
        return False
    opened = (prefix + text).find(markers[0])
    return opened < 0 or (prefix + text).find(markers[1], opened) >= 0


async def force_answers(messages: list[dict], completion: Completion, llm: LLM, params: AgentParams,
                        prefix: str) -> dict:
    """{"texts": {budget: [forced text or None per sample]}, "finish_reasons": {...}, "tokens": spent}."""
    counter = llm.tools.tokens
    preset = params.preset
    markers = preset.think_markers
    asked: list[tuple[str, int]] = []  # (budget, sample) of each forced call
    calls = []
    texts: dict[str, list] = {}
    reasons: dict[str, list] = {}
    for budget in params.budgets:
        key = str(budget)
        texts[key] = [None] * len(completion.texts)
        reasons[key] = [None] * len(completion.texts)
        for index, (text, tokens, reason) in enumerate(zip(completion.texts, completion.completion_tokens,
                                                           completion.finish_reasons)):
            if finished_within(text, tokens, reason, budget, prefix, markers):
                continue
            head = counter.head(text, budget)
            turn = {"role": "assistant", "content": preset.prefill + head + preset.answer_cue}
            asked.append((key, index))
            calls.append(llm.generate(messages + [turn], role="forced", temperature=0.0, top_k=0,
                                      max_tokens=FORCED_TOKENS))
    spent = 0
    for (key, index), forced in zip(asked, await gather(*calls)):
        texts[key][index] = preset.answer_cue + forced.text
        reasons[key][index] = forced.finish_reasons[0]
        spent += forced.total_completion_tokens
    return {"texts": texts, "finish_reasons": reasons, "tokens": spent}
