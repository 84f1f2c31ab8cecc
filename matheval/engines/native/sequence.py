"""One generated sequence and the request that owns it.

A request with `n` samples becomes `n` sequences over the same prompt; they share the prompt's KV
blocks through the block manager's prefix cache, and the request completes when all of them have.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import Enum, auto

from ..base import Completion

_ids = itertools.count()


class Status(Enum):
    WAITING = auto()
    RUNNING = auto()
    FINISHED = auto()


@dataclass(frozen=True)
class SeqParams:
    """What the engine loop needs per sequence (drawn from `Sampling`)."""

    temperature: float
    top_p: float
    max_tokens: int
    top_k: int = 0  # 0: every token
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False


@dataclass
class NativeCompletion(Completion):
    """A Completion that also carries the generated token ids (parity checks, benchmarks)."""

    token_ids: list[list[int]] = field(default_factory=list)


class Sequence:
    """Token ids (prompt then output), where its KV lives, and how far the model has got."""

    __slots__ = (
        "seq_id", "request", "index", "params", "token_ids", "num_prompt_tokens", "max_len",
        "status", "finish_reason", "block_table", "block_hashes", "num_computed_tokens",
        "num_cached_tokens", "key_a", "key_b", "table_row", "num_pending",
    )  # fmt: skip

    def __init__(self, request: Request, index: int, prompt_ids: list[int], params: SeqParams, max_len: int, keys):
        self.seq_id = next(_ids)
        self.request = request
        self.index = index  # which of the request's n samples
        self.params = params
        self.token_ids = list(prompt_ids)
        self.num_prompt_tokens = len(prompt_ids)
        self.max_len = max_len  # prompt + output cap (model length, KV-cache size)
        self.status = Status.WAITING
        self.finish_reason: str | None = None
        self.block_table: list[int] = []
        self.table_row = -1  # its row in the block manager's table array while it holds blocks
        self.block_hashes: list[int] = []  # hash of each full block, in order (the prefix-cache keys)
        self.num_computed_tokens = 0  # tokens whose K/V are in the cache
        self.num_cached_tokens = 0  # of those, tokens found in the prefix cache at admission
        self.key_a, self.key_b = keys  # per-sample noise keys: same seed -> same tokens, whatever the batch
        # Tokens already sampled on the device but not yet read back (asynchronous scheduling): they count
        # for positions and lengths, so the next round can be planned before this one's tokens are known.
        self.num_pending = 0

    @property
    def num_tokens(self) -> int:
        """Tokens including the pending ones: what scheduling, positions and block needs go by."""
        return len(self.token_ids) + self.num_pending

    @property
    def num_output_tokens(self) -> int:
        return self.num_tokens - self.num_prompt_tokens

    def reaches_length_limit(self, tokens: int) -> bool:
        """Whether `tokens` tokens (prompt included) reach max_len or the request's max_tokens: the one
        rule for when to stop scheduling a sequence and when to finish it."""
        return tokens >= self.max_len or tokens - self.num_prompt_tokens >= self.params.max_tokens

    @property
    def fully_scheduled(self) -> bool:
        """Its last allowed token is already on its way: nothing more to run, only results to read."""
        return self.reaches_length_limit(self.num_tokens)

    @property
    def output_ids(self) -> list[int]:  # the tokens read back so far
        return self.token_ids[self.num_prompt_tokens :]

    @property
    def greedy(self) -> bool:
        return self.params.temperature <= 0.0

    def reset_for_recompute(self) -> None:
        """Preempted: its blocks are given back; it will be prefilled again, outputs included."""
        self.status = Status.WAITING
        self.block_table = []
        self.block_hashes = []
        self.num_computed_tokens = 0
        self.num_cached_tokens = 0
        self.num_pending = 0


class Request:
    """The n sequences of one `generate` call; `on_done(completion, error)` fires once, from the engine thread."""

    def __init__(self, prompt_ids: list[int], on_done):
        self.prompt_ids = prompt_ids
        self.on_done = on_done
        self.seqs: list[Sequence] = []
        self.unfinished = 0
        self.aborted = False
        self.admitted = False  # a sample has been admitted: its prompt is (very likely) in the prefix cache
