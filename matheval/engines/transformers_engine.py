"""The transformers backend: static batches through `model.generate` (the seed's TransformersEngine).

Every row of a batch carries its own sampling settings: a logits processor samples each row with its
own temperature, top-p and seeded generator and forces that token, and a stopping criterion ends each
row at its own max_tokens or stop string. So one batch can mix greedy and sampled requests from
different agents, and a seeded request yields the same text whatever shares its batch.

Out of GPU memory, a chunk is retried at half the batch size (and the smaller size is kept), so a
too-large `--batch_size` costs a retry, never the finished work of the run.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessor, StoppingCriteria
from transformers.utils import logging as hf_logging

from ..errors import UserError
from .base import Completion, EngineOptions, EngineStats, Request, Sampling
from .chat import encode_prompt


@dataclass
class _Row:
    """One sequence to generate: a request's prompt, once per sample."""

    request_index: int
    prompt_ids: list[int]
    sampling: Sampling
    seed: int | None


def pick_device(requested: str | None) -> str:
    if requested:
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(requested: str | None, device: str) -> torch.dtype:
    names = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}
    if requested:
        if requested not in names:
            raise UserError(f"unknown --dtype {requested!r}: use one of {', '.join(names)}")
        return names[requested]
    return torch.bfloat16 if device.startswith("cuda") else torch.float32


def load_tokenizer(path: str):
    """Left-padding tokenizer with a pad token (decoder-only batches are padded on the left)."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except OSError as exc:
        raise UserError(f"could not load the tokenizer of {path!r} ({first_line(exc)}): check the model id, "
                        "your network or HF_TOKEN, or pass a local checkpoint folder") from exc
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class RowSampler(LogitsProcessor):
    """Samples each row with its own settings and generator, then forces the chosen token, so that
    `generate(do_sample=False)` emits it. Greedy rows are left alone."""

    def __init__(self, rows: list[_Row], device: str):
        self.rows = rows
        self.generators: list[torch.Generator | None] = []
        for row in rows:
            if row.sampling.greedy:
                self.generators.append(None)
            else:
                generator = torch.Generator(device=device)
                generator.manual_seed(row.seed if row.seed is not None else torch.seed())
                self.generators.append(generator)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for i, row in enumerate(self.rows):
            generator = self.generators[i]
            if generator is None:
                continue
            probs = torch.softmax(scores[i].float() / row.sampling.temperature, dim=-1)
            if row.sampling.top_p < 1.0:
                probs = top_p_filter(probs, row.sampling.top_p)
            token = torch.multinomial(probs, 1, generator=generator)
            forced = torch.full_like(scores[i], float("-inf"))
            forced[token] = 0.0
            scores[i] = forced
        return scores


def top_p_filter(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose mass reaches top_p (always at least one)."""
    sorted_probs, order = torch.sort(probs, descending=True)
    mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
    sorted_probs[mass_before >= top_p] = 0.0
    filtered = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return filtered / filtered.sum()


class RowStopper(StoppingCriteria):
    """Ends each row at its own token budget or at the first of its stop strings."""

    def __init__(self, rows: list[_Row], prompt_width: int, tokenizer, abort: threading.Event):
        self.rows = rows
        self.abort = abort
        self.prompt_width = prompt_width
        self.tokenizer = tokenizer
        self.tail_tokens = [max((len(s) for s in r.sampling.stop), default=0) + 8 for r in rows]

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        generated = input_ids.shape[1] - self.prompt_width
        if self.abort.is_set():  # the run is shutting down (Ctrl-C): stop at the next token
            return torch.ones(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for i, row in enumerate(self.rows):
            if generated >= row.sampling.max_tokens:
                done[i] = True
            elif row.sampling.stop:
                tail = self.tokenizer.decode(input_ids[i, -min(generated, self.tail_tokens[i]):])
                done[i] = any(stop in tail for stop in row.sampling.stop)
        return done


class TransformersBackend:
    """Static batching over `model.generate`; the Batcher in front of it gathers requests."""

    name = "transformers"

    def __init__(self, model_path: str, options: EngineOptions):
        self.model, self.tokenizer, self.device, self.dtype = load_model(model_path, options)
        self.eos_ids = eos_ids_of(self.model, self.tokenizer)
        self.stats = EngineStats()
        self.streamer = None  # set by --detailed: prints the tokens of single-row batches as they come
        self.max_rows: int | None = None  # lowered after an out-of-memory error, kept for the run
        self.abort = threading.Event()  # set by close(): a batch in flight stops at its next token

    def rows_of(self, requests: list[Request]) -> list[_Row]:
        rows = []
        for index, request in enumerate(requests):
            ids = encode_prompt(self.tokenizer, request.messages)
            for sample in range(request.sampling.n):
                seed = None if request.sampling.seed is None else request.sampling.seed + sample
                rows.append(_Row(index, ids, request.sampling, seed))
        return rows

    def generate_batch(self, requests: list[Request], batch_size: int) -> list[Completion]:
        """Generate every request, in length-sorted chunks of at most batch_size rows."""
        rows = self.rows_of(requests)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i].prompt_ids))
        outputs: list[tuple[str, int, str] | None] = [None] * len(rows)
        start = 0
        while start < len(order):
            chunk = order[start:start + min(batch_size, self.max_rows or batch_size)]
            try:
                results = self.generate_rows([rows[i] for i in chunk])
            except torch.OutOfMemoryError:
                self.shrink_after_oom(len(chunk))
                continue  # the same rows again, in smaller chunks; finished chunks stay finished
            for i, result in zip(chunk, results):
                outputs[i] = result
            start += len(chunk)
        completions = [Completion([], 0, [], []) for _ in requests]
        for row, (text, tokens, reason) in zip(rows, outputs):
            completion = completions[row.request_index]
            completion.prompt_tokens = len(row.prompt_ids)
            completion.texts.append(text)
            completion.completion_tokens.append(tokens)
            completion.finish_reasons.append(reason)
        return completions

    def shrink_after_oom(self, failed_rows: int) -> None:
        """Halve the batch after an out-of-memory error, or give up with advice at one row."""
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if failed_rows <= 1:
            raise UserError("out of GPU memory with a single sequence: lower --max_new_tokens or --max_model_len, "
                            "use --dtype bfloat16, a smaller model, or a GPU with more memory")
        self.max_rows = failed_rows // 2
        self.stats.oom_retries += 1
        print(f"matheval: out of GPU memory at batch {failed_rows}; retrying at {self.max_rows} "
              "(kept for the rest of the run)", file=sys.stderr, flush=True)

    @torch.inference_mode()
    def generate_rows(self, rows: list[_Row]) -> list[tuple[str, int, str]]:
        """One `generate` call: left-padded rows in, (text, completion tokens, finish reason) out."""
        started = time.perf_counter()
        width = max(len(r.prompt_ids) for r in rows)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(r.prompt_ids)) + r.prompt_ids for r in rows], device=self.device)
        attention = torch.tensor([[0] * (width - len(r.prompt_ids)) + [1] * len(r.prompt_ids) for r in rows],
                                 device=self.device)
        max_new = max(r.sampling.max_tokens for r in rows)
        sequences = self.model.generate(
            input_ids=input_ids,
            attention_mask=attention,
            max_new_tokens=max_new,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=pad,
            logits_processor=[RowSampler(rows, self.device)],
            stopping_criteria=[RowStopper(rows, width, self.tokenizer, self.abort)],
            streamer=self.streamer if len(rows) == 1 else None,
        )
        results = [self.finish_row(row, sequences[i, width:].tolist()) for i, row in enumerate(rows)]
        self.stats.calls += 1
        self.stats.sequences += len(rows)
        self.stats.batch_rows += len(rows)
        self.stats.max_batch = max(self.stats.max_batch, len(rows))
        self.stats.prompt_tokens += sum(len(r.prompt_ids) for r in rows)
        self.stats.completion_tokens += sum(tokens for _, tokens, _ in results)
        self.stats.busy_seconds += time.perf_counter() - started
        return results

    def finish_row(self, row: _Row, generated: list[int]) -> tuple[str, int, str]:
        return finish_tokens(self.tokenizer, self.eos_ids, generated, row.sampling)

    def abort_generation(self) -> None:
        self.abort.set()

    def close(self) -> None:
        self.abort.set()
        self.model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def load_model(model_path: str, options: EngineOptions):
    """The model in eval mode on its device, with its left-padding tokenizer: (model, tokenizer, device, dtype)."""
    device = pick_device(options.device)
    dtype = pick_dtype(options.dtype, device)
    tokenizer = load_tokenizer(model_path)
    hf_logging.disable_progress_bar()  # our own progress bar is the one that matters
    try:
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
    except OSError as exc:
        raise UserError(f"could not load model {model_path!r} ({first_line(exc)}): check the model id, "
                        "your network or HF_TOKEN, or pass a local checkpoint folder") from exc
    return model.to(device).eval(), tokenizer, device, dtype


def eos_ids_of(model, tokenizer) -> set[int]:
    return set(_as_list(model.generation_config.eos_token_id) or [tokenizer.eos_token_id])


def finish_tokens(tokenizer, eos_ids: set[int], generated: list[int], sampling: Sampling) -> tuple[str, int, str]:
    """Cut generated tokens at EOS, the token budget, or the first stop string:
    (text without the stop string, completion tokens, finish reason)."""
    tokens = generated[: sampling.max_tokens]
    reason = "length"
    for position, token in enumerate(tokens):
        if token in eos_ids:
            tokens, reason = tokens[: position + 1], "stop"
            break
    text = tokenizer.decode(tokens, skip_special_tokens=True)
    cut = cut_at_stop(text, sampling.stop)
    if cut is not None:
        text, reason = cut, "stop"
        tokens = tokens[: count_tokens_through(tokenizer, tokens, len(cut))]
    return text, len(tokens), reason


def cut_at_stop(text: str, stops: tuple[str, ...]) -> str | None:
    """The text before the earliest stop string, or None when no stop string occurs."""
    positions = [text.find(s) for s in stops if s and s in text]
    return text[: min(positions)] if positions else None


def count_tokens_through(tokenizer, tokens: list[int], chars: int) -> int:
    """How many tokens it took to produce `chars` characters of text (the stop string's last token
    included), so token counts match what a server reports for the same stop."""
    low, high = 1, len(tokens)
    while low < high:  # smallest n whose decoded text is longer than `chars`
        middle = (low + high) // 2
        if len(tokenizer.decode(tokens[:middle], skip_special_tokens=True)) > chars:
            high = middle
        else:
            low = middle + 1
    return low


def _as_list(value) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
