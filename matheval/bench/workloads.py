"""The benchmark workloads: the same prompts and the same forced output lengths for every engine.

Every request is chat messages (what agents and `matheval eval` send) whose rendered prompt has a known
token count, plus the exact number of tokens to generate (EOS is disabled, so each engine does the
same work). Draws are seeded; the draw is part of the workload's definition:

- `throughput` (the workload nano-vllm publishes against vLLM): 256 sequences, prompt and output
  lengths uniform in 100-1024. `rng = numpy.random.default_rng(seed)`; prompt lengths
  `rng.integers(100, 1025, 256)`, then output lengths the same way (benchmarks/native_throughput.py
  draws the same lengths, with random token ids for prompts).
- `short` (the H100 anchors' batch-size sweep): 256 prompts uniform in 120-280 tokens, 256 output tokens.
  Prompts of both are random single-token words in the model's chat template, sized to the drawn length
  (the template, and SmolLM2's default system prompt, count towards it).
- `gsm8k`: the real GSM8K test questions in `standard` mode, first 100 and all 1319. Output lengths:
  see `GSM8K_COT_FACTOR`.
- `agents`: majority_vote (N=8), debate (3 debaters, 2 rounds), self_refine (3 iterations) and the
  one-call `standard` baseline, 128 GSM8K problems; see `forced.py` for how their calls are forced.
- `identity`: 96 GSM8K questions at two concurrencies, identical texts counted (`determinism.py`).
- `reasoning`: the R1 protocol's shape: 30 AIME 2024 problems x 64 samples at temperature 0.6, top-p 0.95,
  output lengths long-tailed up to 32,768 tokens (`reasoning_lengths`), in a KV cache that holds a
  quarter of what the running sequences need (`Scale.reasoning_kv_tokens`), so sequences are preempted and
  resumed throughout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..data import Problem, load_problems
from ..engines.chat import encode_prompt
from ..errors import UserError
from ..prompts import build_messages

# GSM8K output lengths (an assumption, not a measurement): a chat model's chain of thought in `standard`
# mode is taken to be GSM8K_COT_FACTOR times the problem's own reference solution (calculator
# annotations removed, "#### x" written as "The answer is x."), times a lognormal spread, clipped to
# [16, 1024]. The reference solutions average 98 SmolLM2 tokens, so the answers average about 250 tokens,
# within the 200-300 tokens published for short chains of thought on GSM8K (e.g. 225 tokens for
# CoT-Valve's shortest QwQ-32B-Preview chains, arXiv 2502.09601). Harder problems (longer reference
# solutions) get longer answers, as with real models.
GSM8K_COT_FACTOR = 2.5
GSM8K_SPREAD = 0.25  # sigma of the lognormal factor
MIN_OUTPUT, MAX_OUTPUT = 16, 1024  # the tool's default --max_new_tokens is 1024

# Reasoning output lengths (an assumption shaped by two published facts, not a measurement of a model): a
# problem j has a solve rate s_j ~ Beta(0.5, 1.22) (mean 0.29: DeepSeek-R1-Distill-Qwen-1.5B's AIME 2024
# pass@1 is 28.9 in its README; AIME rates are bimodal, many problems near 0, a few near 1). Each sample is
# correct with probability s_j; a correct trace is lognormal around 6,000 tokens (sigma 0.5), a wrong one
# three times longer (DeepScaleR's write-up: on AIME this model's wrong answers ran three times longer
# than its right ones, often in repetitive loops), and every trace stops at the 32,768-token cap. So
# lengths are bimodal and long-tailed, with a mass at the cap (traces that never closed: ~8% of samples)
# and hard problems (low s_j) longer on average, as a reasoning model's are. With seed 0: mean 15.6k
# tokens, median 14.1k, 8.5% at the cap, 30.0M output tokens in all.
REASONING_SOLVE_RATE = (0.5, 1.22)  # Beta parameters
REASONING_CORRECT_MEDIAN, REASONING_WRONG_FACTOR, REASONING_SIGMA = 6000, 3.0, 0.5
REASONING_CAP = 32768
REASONING_SAMPLING = {"temperature": 0.6, "top_p": 0.95}  # the R1 protocol
# The cache the workload runs in (Scale.reasoning_kv_tokens): at full scale 2^20 tokens, a quarter of what
# 256 running sequences of its mean length hold, so that preemption is certain on any GPU (a 1.5B Qwen2
# would hold ~4M tokens in an H200's memory).
KV_BLOCK = 16
R1_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


@dataclass(frozen=True)
class Scale:
    """Sizes of every workload at one scale."""

    throughput: tuple[int, tuple[int, int], tuple[int, int]]  # sequences, prompt range, output range
    short: tuple[int, tuple[int, int], int]  # sequences, prompt range, output tokens
    gsm8k: tuple[int, ...]  # problem counts
    agents: int  # problems
    length_divisor: int = 1  # output lengths are divided by this (tiny runs on a CPU)
    identity: tuple[int, int] = (96, 256)  # problems, tokens per response (determinism.py)
    reasoning: tuple[int, int] = (30, 64)  # prompts, samples per prompt
    reasoning_divisor: int = 1  # reasoning lengths are divided by this
    reasoning_kv_tokens: int = 1 << 20  # the KV cache it runs in (see KV_BLOCK)


SCALES = {
    "full": Scale(throughput=(256, (100, 1024), (100, 1024)), short=(256, (120, 280), 256), gsm8k=(100, 1319),
                  agents=128),
    # CPU tests: a few sequences; prompts stay above the chat template's ~30 tokens
    "tiny": Scale(throughput=(8, (48, 80), (4, 24)), short=(8, (48, 64), 12), gsm8k=(4, 8), agents=2,
                  length_divisor=32, identity=(3, 6), reasoning=(2, 4), reasoning_divisor=256,
                  reasoning_kv_tokens=512),
}
WORKLOADS = ("throughput", "short", "gsm8k", "agents", "identity", "reasoning")


@dataclass(frozen=True)
class Item:
    """One request: its messages, the token ids they render to, and the tokens to generate."""

    messages: list[dict]
    prompt_ids: list[int]
    max_tokens: int
    temperature: float = 0.0  # greedy unless the workload samples
    top_p: float = 1.0
    seed: int | None = None


@dataclass
class BatchWorkload:
    """Requests that are all known up front and sent at once (as `matheval eval` does)."""

    name: str  # "throughput", "short", "gsm8k-100", ...
    family: str  # the JSON file it belongs to: throughput, short, gsm8k
    items: list[Item]
    unit: str  # what problems/s counts: "sequence" or "problem"
    description: str
    engine_extra: dict = field(default_factory=dict)  # native-engine options the workload is defined with
    group: int = 1  # items per problem (samples of one prompt, sent together)

    @property
    def useful_tokens(self) -> int:
        return sum(item.max_tokens for item in self.items)

    @property
    def prompt_lens(self) -> list[int]:
        return [len(item.prompt_ids) for item in self.items]

    @property
    def output_lens(self) -> list[int]:
        return [item.max_tokens for item in self.items]


@dataclass(frozen=True)
class AgentRun:
    label: str  # row name, e.g. "majority_vote N=8"
    agent: str  # name in matheval.agents.AGENTS
    params: dict = field(default_factory=dict)  # AgentParams overrides


AGENT_RUNS = (
    AgentRun("standard", "standard"),
    AgentRun("majority_vote N=8", "majority_vote", {"num_runs": 8}),
    AgentRun("debate 3x2", "debate", {"num_runs": 3, "rounds": 2}),
    AgentRun("self_refine 3 iterations", "self_refine", {"max_iters": 3}),
)


@dataclass
class AgentWorkload:
    """Agents run as concurrent async workflows; each call's output length is forced (forced.py)."""

    name: str
    family: str
    problems: list[Problem]
    runs: tuple[AgentRun, ...]
    length_pool: list[int]  # per-call output lengths are drawn from these (the gsm8k answer lengths)
    filler_ids: list[int]  # prose the scripted responses are cut from (reference solutions)
    unit: str = "problem"
    description: str = ""


# -- prompts of a given token count ---------------------------------------------------------------------------
class PromptMaker:
    """Chat messages of random words whose rendered prompt is exactly n tokens long."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.words = single_token_words(tokenizer)
        self.overhead = len(encode_prompt(tokenizer, [{"role": "user", "content": ""}]))

    def make(self, length: int, rng: np.random.Generator) -> tuple[list[dict], list[int]]:
        if length <= self.overhead + 1:
            raise UserError(f"prompts of {length} tokens are shorter than the chat template ({self.overhead} tokens)")
        count = length - self.overhead
        words = [self.words[i] for i in rng.integers(0, len(self.words), count + 8)]
        for _ in range(6):  # each word is one token; the first may merge differently, so adjust and check
            messages = [{"role": "user", "content": " ".join(words[:count])}]
            ids = encode_prompt(self.tokenizer, messages)
            if len(ids) == length:
                break
            count += length - len(ids)
        return messages, ids


def single_token_words(tokenizer, limit: int = 4000) -> list[str]:
    """Lowercase words that are one token with a leading space, and stay one token in a sentence."""
    words = []
    for token in sorted(tokenizer.get_vocab(), key=lambda t: tokenizer.convert_tokens_to_ids(t)):
        text = tokenizer.convert_tokens_to_string([token])
        word = text[1:] if text.startswith(" ") else ""
        if 3 <= len(word) <= 10 and word.isascii() and word.isalpha() and word.islower():
            if len(tokenizer(" " + word, add_special_tokens=False)["input_ids"]) == 1:
                words.append(word)
                if len(words) >= limit:
                    break
    if len(words) < 100:
        raise UserError("the tokenizer has too few single-token words to build benchmark prompts")
    return words


# -- the workloads ---------------------------------------------------------------------------------------------
def random_workload(name: str, tokenizer, count: int, prompt_range: tuple[int, int], output, seed: int,
                    divisor: int = 1) -> BatchWorkload:
    rng = np.random.default_rng(seed)
    prompt_lens = rng.integers(prompt_range[0], prompt_range[1] + 1, count)
    if isinstance(output, tuple):
        output_lens = rng.integers(output[0], output[1] + 1, count)
        out_text = f"output uniform in {output[0]}-{output[1]}"
    else:
        output_lens = np.full(count, output)
        out_text = f"{output} output tokens"
    maker = PromptMaker(tokenizer)
    items = []
    for prompt_len, out_len in zip(prompt_lens, output_lens):
        messages, ids = maker.make(int(prompt_len), rng)
        items.append(Item(messages, ids, max(1, int(out_len) // divisor)))
    description = (f"{count} sequences, prompts uniform in {prompt_range[0]}-{prompt_range[1]} tokens, {out_text}"
                   f"{f' (divided by {divisor})' if divisor > 1 else ''}, numpy default_rng({seed})")
    return BatchWorkload(name, name, items, "sequence", description)


def reference_text(problem: Problem) -> str:
    """A GSM8K reference solution as prose: calculator annotations removed, the answer line spelled out."""
    text = re.sub(r"<<[^>]*>>", "", problem.solution or "")
    body, marker, answer = text.rpartition("####")
    if not marker:
        return text.strip()
    return f"{body.strip()}\nThe answer is {answer.strip()}."


def cot_lengths(tokenizer, problems: list[Problem], seed: int, divisor: int = 1) -> list[int]:
    """Forced output lengths for GSM8K answers (GSM8K_COT_FACTOR), one per problem."""
    rng = np.random.default_rng(seed)
    spread = rng.lognormal(0.0, GSM8K_SPREAD, len(problems))
    lengths = []
    for problem, factor in zip(problems, spread):
        reference = len(tokenizer(reference_text(problem), add_special_tokens=False)["input_ids"])
        length = int(np.clip(round(GSM8K_COT_FACTOR * reference * factor), MIN_OUTPUT, MAX_OUTPUT))
        lengths.append(max(2, length // divisor))
    return lengths


def gsm8k_workloads(tokenizer, counts: tuple[int, ...], seed: int, data_dir: str | None,
                    divisor: int = 1) -> list[BatchWorkload]:
    problems = load_problems("gsm8k", data_dir=data_dir, count=max(counts))
    lengths = cot_lengths(tokenizer, problems, seed, divisor)
    items = []
    for problem, length in zip(problems, lengths):
        messages = build_messages(problem, "standard")
        items.append(Item(messages, encode_prompt(tokenizer, messages), length))
    return [BatchWorkload(f"gsm8k-{n}", "gsm8k", items[:n], "problem",
                          f"first {n} GSM8K test questions, `standard` mode, chat template; output lengths "
                          f"{GSM8K_COT_FACTOR} x reference solution x lognormal(0, {GSM8K_SPREAD}), "
                          f"clipped to {MIN_OUTPUT}-{MAX_OUTPUT}"
                          f"{f', divided by {divisor}' if divisor > 1 else ''}")
            for n in counts]


def agents_workload(tokenizer, count: int, seed: int, data_dir: str | None, divisor: int = 1) -> AgentWorkload:
    pool_problems = load_problems("gsm8k", data_dir=data_dir)
    problems = pool_problems[:count]
    pool = cot_lengths(tokenizer, pool_problems, seed, divisor)
    filler = tokenizer("\n".join(reference_text(p) for p in pool_problems), add_special_tokens=False)["input_ids"]
    return AgentWorkload("agents", "agents", problems, AGENT_RUNS, pool, filler,
                         description=f"{count} GSM8K problems; majority_vote N=8, debate 3x2, self_refine 3 "
                                     "iterations and standard; each call's output length drawn from the gsm8k "
                                     "lengths, seeded by the call's own seed")


def reasoning_lengths(prompts: int, samples: int, seed: int, divisor: int = 1) -> np.ndarray:
    """[prompts, samples] output lengths of the reasoning workload (see REASONING_SOLVE_RATE)."""
    rng = np.random.default_rng(seed)
    solve = rng.beta(*REASONING_SOLVE_RATE, size=(prompts, 1))
    correct = rng.random((prompts, samples)) < solve
    median = np.where(correct, REASONING_CORRECT_MEDIAN, REASONING_CORRECT_MEDIAN * REASONING_WRONG_FACTOR)
    lengths = np.minimum(np.round(median * rng.lognormal(0.0, REASONING_SIGMA, (prompts, samples))), REASONING_CAP)
    return np.maximum(2, lengths.astype(np.int64) // divisor)


def reasoning_workload(tokenizer, prompts: int, samples: int, seed: int, data_dir: str | None,
                       divisor: int = 1, kv_tokens: int = 1 << 20) -> BatchWorkload:
    """AIME 2024 problems in the R1 protocol's messages (the instruction in the user turn, the response
    opened with <think>), each sampled `samples` times with its own seed and forced length."""
    problems = load_problems("aime24", data_dir=data_dir, count=prompts)
    lengths = reasoning_lengths(len(problems), samples, seed, divisor)
    items = []
    for j, problem in enumerate(problems):
        messages = [{"role": "user", "content": f"{problem.question}\n{R1_INSTRUCTION}"},
                    {"role": "assistant", "content": "<think>\n"}]
        ids = encode_prompt(tokenizer, messages)
        items += [Item(messages, ids, int(length), seed=seed * 1_000_003 + j * samples + k, **REASONING_SAMPLING)
                  for k, length in enumerate(lengths[j])]
    longest = max(len(i.prompt_ids) + i.max_tokens for i in items)
    if kv_tokens < longest:
        raise UserError(f"the reasoning workload's KV cache of {kv_tokens} tokens cannot hold its longest "
                        f"sequence ({longest} tokens)")
    description = (f"{len(problems)} AIME 2024 problems x {samples} samples, T {REASONING_SAMPLING['temperature']}, "
                   f"top-p {REASONING_SAMPLING['top_p']}, output lengths: solve rate Beta{REASONING_SOLVE_RATE}, "
                   f"correct lognormal({REASONING_CORRECT_MEDIAN}, {REASONING_SIGMA}), wrong x{REASONING_WRONG_FACTOR:g}, "
                   f"capped at {REASONING_CAP}{f', divided by {divisor}' if divisor > 1 else ''}; KV cache "
                   f"{kv_tokens} tokens")
    return BatchWorkload("reasoning", "reasoning", items, "sequence", description,
                         engine_extra={"num_kv_blocks": kv_tokens // KV_BLOCK, "block_size": KV_BLOCK}, group=samples)


def build_workloads(names: list[str], scale: Scale, tokenizer, seed: int, data_dir: str | None) -> list:
    """The requested workloads, in the order given (gsm8k yields one workload per problem count)."""
    built = []
    for name in names:
        if name == "throughput":
            count, prompt_range, out_range = scale.throughput
            built.append(random_workload("throughput", tokenizer, count, prompt_range, out_range, seed))
        elif name == "short":
            count, prompt_range, out = scale.short
            built.append(random_workload("short", tokenizer, count, prompt_range, out, seed))
        elif name == "gsm8k":
            built.extend(gsm8k_workloads(tokenizer, scale.gsm8k, seed, data_dir, scale.length_divisor))
        elif name == "agents":
            built.append(agents_workload(tokenizer, scale.agents, seed, data_dir, scale.length_divisor))
        elif name == "identity":
            from .determinism import identity_workload

            built.append(identity_workload(tokenizer, *scale.identity, data_dir))
        elif name == "reasoning":
            built.append(reasoning_workload(tokenizer, *scale.reasoning, seed, data_dir, scale.reasoning_divisor,
                                            scale.reasoning_kv_tokens))
        else:
            raise UserError(f"unknown --workload {name!r}: use {', '.join(WORKLOADS)}")
    return built


def suite_output_means(tokenizer, data_dir: str | None) -> dict:
    """Mean forced output tokens of a GSM8K and a MATH-500 answer (same rule: factor x reference solution),
    for the 18-configuration suite estimate. MATH-500 falls back to GSM8K's when its file is absent."""
    gsm8k = load_problems("gsm8k", data_dir=data_dir)
    means = {"gsm8k": float(np.mean(cot_lengths(tokenizer, gsm8k, 0)))}
    try:
        math500 = load_problems("math500", data_dir=data_dir)
    except UserError:
        means["math500"] = means["gsm8k"]
        means["math500_note"] = "MATH-500 file not found: GSM8K's mean used"
        return means
    lengths = [int(np.clip(round(GSM8K_COT_FACTOR * len(tokenizer(p.solution or "", add_special_tokens=False)
                                                          ["input_ids"])), MIN_OUTPUT, MAX_OUTPUT))
               for p in math500]
    means["math500"] = float(np.mean(lengths))
    return means
