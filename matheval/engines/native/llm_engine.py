"""The engine core: requests in, model steps out, completions back.

Everything here runs on one thread (the engine thread of `NativeEngine`, or the caller's for tests):
add requests, call `step()` while `has_work()`, and each request's `on_done` fires when its last
sequence finishes. A step schedules a batch and launches the model on it, then reads back the step
launched before it (one step stays in flight: asynchronous scheduling), appending each sampled token
and deciding whether its sequence is done (EOS, a stop string, max_tokens, the length limit).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np

from matheval.errors import UserError

from ..base import EngineStats, Sampling
from ..stopping import cut_at_stop, declared_in_folder, eos_token_ids, tail_has_stop
from .block_manager import BlockManager
from .config import EngineConfig, ModelConfig
from .model_runner import ModelRunner
from .sampler import sample_keys
from .scheduler import Scheduler
from .sequence import NativeCompletion, Request, SeqParams, Sequence, Status
from ..tokenizer_cache import load_tokenizer
from .startup import StartupTimes, install_compile_timer, triton_compile_seconds


def locate(model_path: str, load_format: str) -> tuple[Path | None, Path]:
    """(checkpoint folder or None, config.json) for a folder, a bare config.json (dummy weights) or a hub id."""
    path = Path(model_path).expanduser()
    if path.is_file() and path.suffix == ".json":
        if load_format != "dummy":
            raise UserError(f"{path} is a bare config: weights come from a folder, or pass load_format=dummy")
        return None, path
    if not path.is_dir():
        try:
            from huggingface_hub import snapshot_download

            path = Path(snapshot_download(model_path, allow_patterns=["*.json", "*.safetensors", "*.jinja", "tokenizer*"]))
        except Exception as exc:  # noqa: BLE001 - any download failure means the same to the user
            raise UserError(f"cannot find model {model_path!r} locally or download it: {exc}") from None
    return path, path / "config.json"


class LLMEngine:
    def __init__(self, model_path: str, config: EngineConfig):
        self.times = times = StartupTimes()
        folder, config_file = locate(model_path, config.load_format)
        self.model_config = ModelConfig.load(config_file)
        self.config = config = config.with_limits_for(self.model_config)
        with times.phase("tokenizer"):
            self.tokenizer = load_tokenizer(folder)
        self.eos_ids = eos_token_ids(*declared_in_folder(folder), self.model_config.eos_token_ids,
                                     tokenizer=self.tokenizer)
        self._eos_array = np.array(sorted(self.eos_ids), dtype=np.int64)
        max_model_len = min(config.max_model_len or self.model_config.max_position_embeddings,
                            self.model_config.max_position_embeddings)  # fmt: skip
        weights = None if config.load_format == "dummy" else folder
        if config.device.startswith("cuda"):
            with times.phase("cuda_init"):  # the context, so that it is not counted as loading weights
                import torch

                torch.cuda.init()
                install_compile_timer()
        self.runner = ModelRunner(self.model_config, config, weights, max_model_len, times)
        self.blocks = BlockManager(self.runner.num_blocks, config.block_size, config.max_num_seqs,
                                   self.runner.max_blocks_per_seq)  # fmt: skip
        self.runner.block_tables = self.blocks.tables
        # A sequence never outgrows the model or the whole cache (it could never be scheduled again).
        self.max_model_len = max_model_len
        self.max_seq_len = min(max_model_len, self.runner.num_blocks * config.block_size)
        self.scheduler = Scheduler(config, self.blocks, self.max_seq_len)
        self._rng = random.Random(config.seed)
        self._pending = None  # the launched step whose tokens are not read yet (asynchronous scheduling)
        self.stats = EngineStats()
        self.counters = {"prefill_steps": 0, "decode_steps": 0, "decode_rounds": 0, "prefill_tokens": 0,
                         "decode_tokens": 0, "prefill_seconds": 0.0, "decode_seconds": 0.0,
                         "steps_launched_ahead": 0}  # fmt: skip

    # -- requests -------------------------------------------------------------------------------------------
    def validate(self, prompt_ids: list[int], sampling: Sampling) -> None:
        """Raise UserError for a request that can never run; safe to call from any thread."""
        if not prompt_ids:
            raise UserError("empty prompt: give the native engine at least one token")
        if len(prompt_ids) >= self.max_seq_len:
            raise UserError(
                f"prompt of {len(prompt_ids)} tokens does not fit the native engine's limit of {self.max_seq_len} "
                "tokens: shorten it or raise max_model_len"
            )
        wanted = min(len(prompt_ids) + sampling.max_tokens, self.max_model_len)
        if wanted > self.max_seq_len:  # the cache, not the model, would cut it short: say so instead
            raise UserError(
                f"a {len(prompt_ids)}-token prompt with max_tokens {sampling.max_tokens} needs {wanted} tokens of KV "
                f"cache, and the native engine's whole cache holds {self.max_seq_len}: lower --max_new_tokens, or "
                "give the cache more memory (a larger GPU share, a smaller --max_model_len leaves more for others)"
            )
        if sampling.stop and self.tokenizer is None:
            raise UserError("stop strings need a tokenizer: this model folder has none")

    def add_request(self, request: Request, sampling: Sampling, ignore_eos: bool | None = None) -> None:
        params = SeqParams(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k,
            max_tokens=sampling.max_tokens,
            stop=tuple(s for s in sampling.stop if s),
            ignore_eos=self.config.ignore_eos if ignore_eos is None else ignore_eos,
        )
        seed = sampling.seed if sampling.seed is not None else self._rng.getrandbits(64)
        max_len = min(self.max_seq_len, len(request.prompt_ids) + sampling.max_tokens)
        request.seqs = [
            Sequence(request, i, request.prompt_ids, params, max_len, sample_keys(seed, i)) for i in range(sampling.n)
        ]
        request.unfinished = sampling.n
        for seq in request.seqs:
            self.scheduler.add(seq)
        self.stats.requests += 1

    def abort(self, request: Request) -> None:
        request.aborted = True
        self.scheduler.abort(request.seqs)

    def has_work(self) -> bool:
        return self.scheduler.has_work() or self._pending is not None

    # -- stepping -------------------------------------------------------------------------------------------
    def step(self) -> None:
        """Plan and launch the next model step, then read back the step before it while the GPU runs this
        one (asynchronous scheduling: the host's planning, launches and bookkeeping hide behind GPU time).
        The plan counts the unread tokens as already there; a sequence that turns out to have finished in
        them wastes its part of the new step, which is discarded. With `async_scheduling` off, each step
        is read back before the next is planned."""
        started = time.perf_counter()
        previous, self._pending = self._pending, None
        planned = self.scheduler.schedule(can_preempt=previous is None)
        if not planned or not planned[0]:
            if previous is not None:  # nothing new can start before the unread tokens are known
                self._read_back(previous)
                self.stats.busy_seconds += time.perf_counter() - started
                return
            # (previous is None, so preemption was allowed): everything running was just preempted, and
            # the freed blocks admit someone now
            planned = self.scheduler.schedule()
            if not planned[0]:
                raise RuntimeError("no sequence can get KV-cache blocks although the cache is free (a bug)")
        launched = self._launch(*planned)
        if self.config.async_scheduling:
            self._pending = launched
            if previous is not None:
                self.counters["steps_launched_ahead"] += 1
                self._read_back(previous)
        else:
            self._read_back(launched)
        elapsed = time.perf_counter() - started
        self.counters[f"{launched.kind}_seconds"] += elapsed
        self.stats.busy_seconds += elapsed

    def _launch(self, seqs: list[Sequence], is_prefill: bool, steps: int):
        if is_prefill:
            self.counters["prefill_tokens"] += sum(s.num_tokens - s.num_computed_tokens for s in seqs)
            pending = self.runner.launch_prefill(seqs)
        else:
            self.counters["decode_tokens"] += steps * len(seqs)
            self.stats.generated_tokens += steps * len(seqs)  # counted at launch: the progress line's tok/s
            self.counters["decode_rounds"] += 1
            pending = self.runner.launch_decode(seqs, steps)
        for seq in seqs:
            seq.num_pending += steps
        if f"first_{pending.kind}" not in self.times.phases:  # timed until its tokens are read back
            pending.first_launch = (time.perf_counter(), triton_compile_seconds())
        self.counters[f"{pending.kind}_steps"] += steps
        self.stats.calls += steps
        self.stats.batch_rows += len(seqs) * steps
        self.stats.max_batch = max(self.stats.max_batch, len(seqs))
        return pending

    def _read_back(self, pending) -> None:
        """Append a launched step's tokens and finish the sequences they end. The round's [steps, n]
        tokens are searched for EOS with numpy, so the Python work is per sequence, not per token (at
        many rows and 8 steps a round, a loop over every token was most of the engine's own host time);
        only sequences with stop strings look at each token's decoded text."""
        tokens = pending.result()
        first = getattr(pending, "first_launch", None)
        if first is not None:
            self.times.record(f"first_{pending.kind}", time.perf_counter() - first[0], triton_compile_seconds() - first[1])
        steps = tokens.shape[0]
        is_eos = np.isin(tokens, self._eos_array) if self._eos_array.size else np.zeros(tokens.shape, dtype=bool)
        has_eos = is_eos.any(axis=0)
        first_eos = is_eos.argmax(axis=0)
        columns = tokens.T.tolist()
        finished_any = False
        for i, seq in enumerate(pending.seqs):
            if seq.status is not Status.RUNNING:  # finished or aborted after this step was launched
                continue
            params = seq.params
            before = len(seq.token_ids)
            # Sequence.reaches_length_limit, solved for the number of tokens: the one that reaches it is the last
            take = min(seq.max_len, seq.num_prompt_tokens + params.max_tokens) - before
            take, reason = (take, "length") if take <= steps else (steps, None)
            if has_eos[i] and not params.ignore_eos and first_eos[i] < take:  # EOS first, as one token may do both
                take, reason = int(first_eos[i]) + 1, "stop"
            column = columns[i][:take]
            if params.stop:
                take, reason, column = self._cut_at_stop_token(seq, column, take, reason)
            seq.token_ids.extend(column)
            seq.num_computed_tokens = len(seq.token_ids) - 1  # the newest token's K/V is the next step's
            self.blocks.register_computed(seq)
            if reason is None:
                seq.num_pending -= take
                continue
            # later tokens, of this step and any launched since, are dropped
            seq.num_pending = 0
            seq.finish_reason = reason
            self.scheduler.finish(seq)
            finished_any = True
            self._seq_done(seq)
        if finished_any:
            self.scheduler.drop_finished()

    def _cut_at_stop_token(self, seq: Sequence, column: list[int], take: int, reason: str | None):
        """The first of the round's tokens that completes a stop string ends the sequence there. Each check
        decodes a window of the newest tokens only (tail_has_stop), never the whole output."""
        window = max(len(s) for s in seq.params.stop) + 8
        tail = seq.token_ids[max(seq.num_prompt_tokens, len(seq.token_ids) - window):]
        for k in range(take):
            if tail_has_stop(self.tokenizer, tail + column[: k + 1], seq.params.stop):
                return k + 1, "stop", column[: k + 1]
        return take, reason, column

    def _seq_done(self, seq: Sequence) -> None:
        request = seq.request
        request.unfinished -= 1
        if request.unfinished or request.aborted:
            return
        texts, reasons = [], []
        for s in request.seqs:
            text, reason = self._final_text(s), s.finish_reason
            cut = cut_at_stop(text, s.params.stop)
            if cut is not None:
                text, reason = cut, "stop"
            texts.append(text)
            reasons.append(reason)
        completion = NativeCompletion(
            texts=texts,
            prompt_tokens=len(request.prompt_ids),
            completion_tokens=[s.num_output_tokens for s in request.seqs],
            finish_reasons=reasons,
            token_ids=[s.output_ids for s in request.seqs],
        )
        self.stats.sequences += len(request.seqs)
        self.stats.prompt_tokens += completion.prompt_tokens
        self.stats.completion_tokens += completion.total_completion_tokens
        request.on_done(completion, None)

    def _final_text(self, seq: Sequence) -> str:
        if self.tokenizer is None:
            return ""
        return self.tokenizer.decode(seq.output_ids, skip_special_tokens=True)

    def fail_all(self, error: BaseException) -> None:
        """The engine broke: every pending request hears about it once."""
        pending = {id(s.request): s.request for s in list(self.scheduler.waiting) + self.scheduler.running}
        for request in pending.values():
            if not request.aborted:
                request.aborted = True
                request.on_done(None, error)
        self.scheduler.waiting.clear()
        self.scheduler.running.clear()
        self._pending = None

    def native_stats(self) -> dict:
        prefix = self.blocks.stats
        steps = self.counters["decode_steps"]
        return {
            **self.counters,
            # EngineStats.mean_batch (sequences / steps) means little for continuous batching; this does
            "mean_decode_batch": round(self.counters["decode_tokens"] / steps, 2) if steps else 0.0,
            "preemptions": self.scheduler.num_preemptions,
            "preempted_tokens": self.scheduler.preempted_tokens,
            "preemption_waits": self.scheduler.preemption_waits,
            "kv_blocks": self.runner.num_blocks,
            "block_size": self.config.block_size,
            "prefix_queried_blocks": prefix.queried_blocks,
            "prefix_hit_blocks": prefix.hit_blocks,
            "prefix_hit_tokens": prefix.hit_tokens,
            "cuda_graphs": len(self.runner.graphs),
            "graph_capture_seconds": round(self.runner.capture_seconds, 3),
            "max_num_seqs": self.config.max_num_seqs,
            **{f"startup_{k}": v for k, v in self.times.as_dict().items()},
        }


__all__ = ["LLMEngine", "Request", "Status"]
