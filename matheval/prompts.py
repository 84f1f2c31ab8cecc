r"""Problem -> chat messages for each prompt mode, worded by the run's preset (matheval.presets).

- standard: zero-shot chain of thought, final answer in \boxed{} (the preset's user text, after its
            system prompt if it has one).
- fewshot:  k worked examples as alternating user/assistant turns, then the problem; every user
            turn is worded exactly as in `standard`, so the examples show the expected reply.
- direct:   the answer alone, no working (still in \boxed{} so that extraction is reliable).

`with_prefill` adds the preset's start of the response (DeepSeek-R1's "<think>\n") as an assistant message
that the engine continues.
"""

from __future__ import annotations

import re

from .data import Problem
from .errors import UserError
from .presets import DEFAULT_PRESET, PRESETS, Preset

MODES = ("standard", "fewshot", "direct")
DEFAULT_FEWSHOT_K = 4

ANSWER_ONLY = "Reply with only the final answer, without any working, in the form \\boxed{answer}."

_ANSWER_LINE = re.compile(r"\n?The answer is [^\n]*$")


def _user(content: str) -> dict:
    return {"role": "user", "content": content}


def _reasoning_request(problem: Problem, preset: Preset | None = None) -> str:
    return (preset or PRESETS[DEFAULT_PRESET]).user_text(problem.question)


def worked_solution(example: Problem) -> str:
    r"""The assistant turn for a few-shot example: its solution, ending with the answer in \boxed{}.

    Solutions that already box their answer (MATH) are used as they are; word-problem solutions
    ending "The answer is X." (GSM8K, synthetic) get that line restated with \boxed{X}.
    """
    text = (example.solution or "").strip()
    if "\\boxed" in text:
        return text
    text = _ANSWER_LINE.sub("", text).rstrip()
    final = f"The answer is \\boxed{{{example.answer}}}."
    return f"{text}\n{final}" if text else final


def build_messages(problem: Problem, mode: str, examples: list[Problem] | None = None,
                   preset: Preset | None = None) -> list[dict]:
    """Chat messages ({"role", "content"}) asking the model to solve `problem` in `mode`, worded by
    `preset` (default: matheval's own).

    `examples` are the few-shot examples (from `matheval.data.load_examples`); only `fewshot` uses
    them, and it needs them passed (an empty list gives the standard prompt).
    """
    if mode not in MODES:
        raise UserError(f"unknown prompt mode '{mode}'; choose one of: {', '.join(MODES)}")
    messages: list[dict] = [{"role": "system", "content": preset.system}] if preset and preset.system else []
    if mode == "direct":
        return messages + [_user(f"{problem.question}\n\n{ANSWER_ONLY}")]
    if mode == "standard":
        return messages + [_user(_reasoning_request(problem, preset))]
    if examples is None:
        raise ValueError("fewshot mode needs its examples: pass load_examples(dataset, k)")
    for example in examples:
        messages.append(_user(_reasoning_request(example, preset)))
        messages.append({"role": "assistant", "content": worked_solution(example)})
    messages.append(_user(_reasoning_request(problem, preset)))
    return messages


def with_prefill(messages: list[dict], preset: Preset | None) -> list[dict]:
    """The messages with the preset's start of the response as an assistant message to continue (none
    when the preset has no prefill): the response the engine returns is what follows it."""
    if preset is None or not preset.prefill:
        return messages
    return messages + [{"role": "assistant", "content": preset.prefill}]
