r"""Evaluation presets: the prompt and generation settings a model's authors published, by name.

A preset fixes what changes a score besides the weights: the system and user text, temperature, top-p,
top-k, the token cap, the start of the response (a prefill such as "<think>\n"), thinking on or off in the
chat template (Qwen3's enable_thinking), and the answer cue that budget forcing appends to a cut response.
`matheval presets` lists them; docs/reasoning.md gives each one's source. Every field can be overridden by
a flag (`Preset.override`), and the resolved preset is part of a run's identity, so a resumed run never
mixes two protocols.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from .errors import UserError

STEP_BY_STEP = "Please reason step by step, and put your final answer within \\boxed{}."
TIR_SYSTEM = ("Please integrate natural language reasoning with programs to solve the problem above, "
              "and put your final answer within \\boxed{}.")
THINK_CUE = "</think>\n\n**Final Answer**\n\\boxed{"  # closes an unfinished reasoning, then asks for the box
ANSWER_CUE = "\n\n**Final Answer**\n\\boxed{"


@dataclass(frozen=True)
class Preset:
    """One published protocol. `user` holds "{question}"; `thinking` None leaves the chat template's
    default; `reasoning` presets write <think>...</think> (the budget curve is drawn by default)."""

    name: str
    summary: str
    user: str
    system: str | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 1024
    prefill: str = ""
    thinking: bool | None = None
    answer_cue: str = ANSWER_CUE
    reasoning: bool = False
    code: bool = False  # the prompt asks for Python: --agent tool_integrated asks with it instead of its own
    think_markers: tuple[str, str] = ("<think>", "</think>")  # where the reasoning starts and ends
    sources: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if "{question}" not in self.user:
            raise UserError(f"the user prompt of preset {self.name!r} must hold {{question}}, where the problem goes")

    def user_text(self, question: str) -> str:
        return self.user.replace("{question}", question)

    def override(self, **given) -> Preset:
        """This preset with the flags the user gave (None: not given). A changed prompt field shows in the
        name ("deepseek-r1+system"); sampling values are recorded with the generation settings."""
        changes = {key: value for key, value in given.items() if value is not None and getattr(self, key) != value}
        if not changes:
            return self
        worded = sorted(set(changes) - {"temperature", "top_p", "top_k", "max_new_tokens"})
        name = f"{self.name}+{'+'.join(worded)}" if worded else self.name
        return replace(self, name=name, **changes)

    @property
    def base_name(self) -> str:
        return self.name.split("+")[0]

    def identity(self) -> dict:
        """What the journal records (resume compares it): everything but the prose."""
        values = asdict(self)
        for key in ("summary", "sources", "temperature", "top_p", "top_k", "max_new_tokens"):
            values.pop(key)  # the sampling values are recorded with the generation settings
        values["think_markers"] = list(self.think_markers)  # as JSON reads it back
        return values


R1_README = "https://github.com/deepseek-ai/DeepSeek-R1#usage-recommendations"
QWEN25_MATH_EVAL = "https://github.com/QwenLM/Qwen2.5-Math/blob/main/evaluation/utils.py"
QWEN25_MATH_README = "https://github.com/QwenLM/Qwen2.5-Math#-hugging-face-transformers"
QWEN25_MATH_ARGS = "https://github.com/QwenLM/Qwen2.5-Math/blob/main/evaluation/math_eval.py"
QWEN3_CARD = "https://huggingface.co/Qwen/Qwen3-0.6B#best-practices"

PRESETS: dict[str, Preset] = {preset.name: preset for preset in (
    Preset("matheval", "matheval's own zero-shot chain of thought: greedy, 1,024 tokens, the step-by-step "
           "request after the problem", user="{question}\n\n" + STEP_BY_STEP),
    Preset("deepseek-r1", "DeepSeek-R1 and its distills: no system prompt, the step-by-step request in the user "
           "turn, temperature 0.6, top-p 0.95, 32,768 tokens, the response forced to start with <think>",
           user="{question}\n" + STEP_BY_STEP, temperature=0.6, top_p=0.95, max_new_tokens=32768,
           prefill="<think>\n", answer_cue=THINK_CUE, reasoning=True, sources=(R1_README,)),
    Preset("qwen2.5-math-cot", "Qwen2.5-Math-Instruct, chain of thought (its evaluation's qwen25-math-cot): the "
           "step-by-step request as the system prompt, greedy, 2,048 tokens", system=STEP_BY_STEP,
           user="{question}", max_new_tokens=2048, sources=(QWEN25_MATH_EVAL, QWEN25_MATH_ARGS)),
    Preset("qwen2.5-math-tir", "Qwen2.5-Math-Instruct, tool-integrated reasoning: its TIR system prompt, greedy, "
           "2,048 tokens per call; code runs with --agent tool_integrated", system=TIR_SYSTEM, user="{question}",
           max_new_tokens=2048, code=True, sources=(QWEN25_MATH_README, QWEN25_MATH_ARGS)),
    Preset("qwen3-thinking", "Qwen3 in thinking mode: enable_thinking on, temperature 0.6, top-p 0.95, top-k 20, "
           "38,912 tokens (the card's length for competition math), the step-by-step request in the prompt",
           user="{question}\n" + STEP_BY_STEP, temperature=0.6, top_p=0.95, top_k=20, max_new_tokens=38912,
           thinking=True, answer_cue=THINK_CUE, reasoning=True, sources=(QWEN3_CARD,)),
    Preset("qwen3-non-thinking", "Qwen3 with thinking off: enable_thinking off, temperature 0.7, top-p 0.8, "
           "top-k 20, 32,768 tokens, the step-by-step request in the prompt", user="{question}\n" + STEP_BY_STEP,
           temperature=0.7, top_p=0.8, top_k=20, max_new_tokens=32768, thinking=False, sources=(QWEN3_CARD,)),
)}
DEFAULT_PRESET = "matheval"


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise UserError(f"unknown --preset {name!r}: use one of {', '.join(PRESETS)} (see `matheval presets`)")
    return PRESETS[name]
