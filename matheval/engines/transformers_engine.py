"""The transformers backend: static batches through `model.generate` (the seed's TransformersEngine).

Every row of a batch carries its own sampling settings: a logits processor samples each row with its
own temperature, top-k, top-p and seeded generator and forces that token, and a stopping criterion ends each
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
from transformers import LogitsProcessor, StoppingCriteria

from ..errors import UserError
from ..models import ModelRef
from .base import Completion, EngineOptions, EngineStats, Request, Sampling
from .chat import encode_prompt
from .hf_loading import load_model, model_eos_ids
from .stopping import finish_tokens


@dataclass
class _Row:
    """One sequence to generate: a request's prompt, once per sample."""

    request_index: int
    prompt_ids: list[int]
    sampling: Sampling
    seed: int | None


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
            if row.sampling.top_k:
                probs = top_k_filter(probs, row.sampling.top_k)
            if row.sampling.top_p < 1.0:
                probs = top_p_filter(probs, row.sampling.top_p)
            token = torch.multinomial(probs, 1, generator=generator)
            forced = torch.full_like(scores[i], float("-inf"))
            forced[token] = 0.0
            scores[i] = forced
        return scores


def top_k_filter(probs: torch.Tensor, top_k: int) -> torch.Tensor:
    """Keep the top_k most likely tokens (and any tied with the k-th), renormalized: top-k comes before
    top-p, as in vLLM and transformers."""
    if top_k >= probs.shape[-1]:
        return probs
    kth = torch.topk(probs, top_k).values[-1]
    kept = torch.where(probs >= kth, probs, torch.zeros_like(probs))
    return kept / kept.sum()


def top_p_filter(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose mass reaches top_p (always at least one)."""
    sorted_probs, order = torch.sort(probs, descending=True)
    mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
    sorted_probs[mass_before >= top_p] = 0.0
    filtered = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return filtered / filtered.sum()


class RowStopper(StoppingCriteria):
    """Ends each row at its own token budget or at the first of its stop strings."""

    def __init__(self, rows: list[_Row], prompt_width: int, tokenizer, abort: threading.Event,
                 stats: EngineStats | None = None):
        self.rows = rows
        self.stats = stats
        self.abort = abort
        self.prompt_width = prompt_width
        self.tokenizer = tokenizer
        self.tail_tokens = [max((len(s) for s in r.sampling.stop), default=0) + 8 for r in rows]

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        generated = input_ids.shape[1] - self.prompt_width
        if self.abort.is_set():  # the run is shutting down (Ctrl-C): stop at the next token
            return torch.ones(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        if self.stats is not None and generated > 0:  # a token per row still within its budget (progress)
            self.stats.generated_tokens += sum(1 for row in self.rows if generated <= row.sampling.max_tokens)
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
        self.model, self.tokenizer, self.device, self.dtype = load_model(model_path, options.device, options.dtype)
        self.eos_ids = model_eos_ids(self.model, self.tokenizer)
        self.template_kwargs = dict(options.chat_template_kwargs)
        self.stats = EngineStats()
        self.streamer = None  # set by --detailed: prints the tokens of single-row batches as they come
        self.max_rows: int | None = None  # lowered after an out-of-memory error, kept for the run
        self.abort = threading.Event()  # set by close(): a batch in flight stops at its next token

    def rows_of(self, requests: list[Request]) -> list[_Row]:
        rows = []
        for index, request in enumerate(requests):
            ids = encode_prompt(self.tokenizer, request.messages, self.template_kwargs)
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
            eos_token_id=sorted(self.eos_ids),  # engines.stopping's set: every backend ends a turn alike
            logits_processor=[RowSampler(rows, self.device)],
            stopping_criteria=[RowStopper(rows, width, self.tokenizer, self.abort, self.stats)],
            streamer=self.streamer if len(rows) == 1 else None,
        )
        results = [self.finish_row(row, sequences[i, width:].tolist()) for i, row in enumerate(rows)]
        self.stats.calls += 1
        self.stats.sequences += len(rows)
        self.stats.batch_rows += len(rows)
        self.stats.max_batch = max(self.stats.max_batch, len(rows))
        self.stats.prompt_tokens += sum(len(r.prompt_ids) for r in rows)
        self.stats.completion_tokens += sum(tokens for _, tokens, _ in results)
        self.stats.generated_tokens = self.stats.completion_tokens  # rows that ended early were counted on
        self.stats.busy_seconds += time.perf_counter() - started
        return results

    def enable_streaming(self) -> None:
        """Print the tokens of single-row batches as they are generated (--detailed)."""
        from transformers import TextStreamer

        self.streamer = TextStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)

    def finish_row(self, row: _Row, generated: list[int]) -> tuple[str, int, str]:
        return finish_tokens(self.tokenizer, self.eos_ids, generated, row.sampling)

    def abort_generation(self) -> None:
        self.abort.set()

    def close(self) -> None:
        self.abort.set()
        self.model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def create(model: ModelRef, options: EngineOptions):
    """The transformers backend behind a Batcher that gathers rows of --batch_size (`auto`: measured)."""
    from .batcher import Batcher

    static = TransformersBackend(model.path, options)
    return Batcher(static, batch_size=static_batch_size(static, options))


def static_batch_size(backend: TransformersBackend, options: EngineOptions) -> int:
    """--batch_size as rows per static batch; `auto` measures what fits (engines.memory)."""
    if options.rows != "auto":
        return options.rows
    from .memory import auto_batch_size

    return auto_batch_size(backend.model, backend.device, backend.dtype, new_tokens=options.max_new_tokens)
