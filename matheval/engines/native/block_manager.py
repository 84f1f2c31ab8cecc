"""Paged KV cache bookkeeping: which physical block holds which tokens of which sequence.

Full blocks are keyed by a hash of their tokens and of everything before them, and reference-counted.
A new sequence whose prompt starts with blocks already in the cache (the other samples of its request,
an agent's repeated prompt prefix) takes those blocks instead of recomputing them. A block whose count
falls to zero stays findable until its memory is handed to another sequence, least recently freed
first, so a prefix outlives the request that computed it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from .sequence import Sequence


def block_hash(previous: int | None, tokens: list[int]) -> int:
    return hash((previous, *tokens))


@dataclass
class Block:
    ref_count: int = 0
    hash: int | None = None
    tokens: tuple[int, ...] = ()  # kept to rule out hash collisions


@dataclass
class PrefixStats:
    queried_blocks: int = 0  # full prompt blocks looked up at admission
    hit_blocks: int = 0  # of those, found in the cache (not recomputed)
    hit_tokens: int = 0


class BlockManager:
    def __init__(self, num_blocks: int, block_size: int, max_seqs: int, max_blocks_per_seq: int):
        self.block_size = block_size
        # Each sequence holding blocks owns a row of this array, kept in step with its block table, so
        # that a step's tables are one gather instead of a conversion of Python lists.
        self.tables = np.zeros((max_seqs, max_blocks_per_seq), dtype=np.int32)
        self._free_rows = list(range(max_seqs - 1, -1, -1))
        self.blocks = [Block() for _ in range(num_blocks)]
        # Insertion order = eviction order. An OrderedDict, not a dict: a plain dict that is taken from
        # at the front leaves holes that `next(iter(...))` walks over (24 us a block on an H100 host).
        self.free: OrderedDict[int, None] = OrderedDict.fromkeys(range(num_blocks))
        self.by_hash: dict[int, int] = {}
        self.stats = PrefixStats()
        self.watermark = max(1, num_blocks // 100)  # kept free at admission at least, while others hold blocks

    @property
    def num_free(self) -> int:
        return len(self.free)

    def blocks_needed(self, num_tokens: int) -> int:
        return -(-num_tokens // self.block_size)

    # -- admission -----------------------------------------------------------------------------------
    def plan(self, seq: Sequence) -> tuple[list[int], list[int]]:
        """(hashes of the sequence's full blocks, ids of the leading blocks already cached).

        A cached block must end before the last token: that token is always computed so that its
        logits exist, and a shared block is never written twice.
        """
        bs, tokens = self.block_size, seq.token_ids
        hashes, hits, previous = [], [], None
        for start in range(0, len(tokens) - bs + 1, bs):
            chunk = tokens[start : start + bs]
            previous = block_hash(previous, chunk)
            hashes.append(previous)
            if len(hits) == len(hashes) - 1 and start + bs < len(tokens):
                found = self.by_hash.get(previous)
                if found is not None and self.blocks[found].tokens == tuple(chunk):
                    hits.append(found)
        return hashes, hits

    def try_allocate(self, seq: Sequence, token_budget: int, reserve: int = 0) -> int | None:
        """Give `seq` blocks for all its tokens, reusing cached ones. Returns how many tokens must be
        computed, or None (nothing taken) when they exceed the budget, or the free blocks less `reserve`
        (kept for the running sequences' growth) and the watermark."""
        hashes, hits = self.plan(seq)
        cached_tokens = len(hits) * self.block_size
        new_tokens = seq.num_tokens - cached_tokens
        if new_tokens > token_budget:
            return None
        revived = sum(1 for b in hits if self.blocks[b].ref_count == 0)  # hits that leave the free pool
        fresh = self.blocks_needed(seq.num_tokens) - len(hits)
        if self.num_free < len(self.blocks):  # others hold blocks and may grow
            reserve = max(reserve, self.watermark)
        if revived + fresh > self.num_free - reserve:
            return None
        self.stats.queried_blocks += min(len(hashes), (seq.num_tokens - 1) // self.block_size)
        self.stats.hit_blocks += len(hits)
        self.stats.hit_tokens += cached_tokens
        for block_id in hits:
            self._take(block_id)
        seq.block_table = hits + [self._take(None) for _ in range(fresh)]
        seq.table_row = self._free_rows.pop()
        self.tables[seq.table_row, : len(seq.block_table)] = seq.block_table
        seq.block_hashes = []
        seq.num_cached_tokens = cached_tokens
        seq.num_computed_tokens = cached_tokens
        for index, h in enumerate(hashes):  # the prompt's full blocks: findable from now on
            self._register(seq, index, h)
        return new_tokens

    # -- decoding -------------------------------------------------------------------------------------
    def blocks_to_reach(self, seq: Sequence, last_position: int) -> int:
        """Fresh blocks the sequence needs so that its K/V can be written up to `last_position`."""
        return max(0, last_position // self.block_size + 1 - len(seq.block_table))

    def reserve(self, seq: Sequence, last_position: int) -> None:
        """Give the sequence blocks up to `last_position` (a multi-step decode round writes ahead); the
        caller has checked `blocks_to_reach` against `num_free`."""
        for _ in range(self.blocks_to_reach(seq, last_position)):
            seq.block_table.append(self._take(None))
            self.tables[seq.table_row, len(seq.block_table) - 1] = seq.block_table[-1]

    def register_computed(self, seq: Sequence) -> None:
        """Blocks filled while decoding become findable too (agents continue their own outputs)."""
        bs = self.block_size
        while (len(seq.block_hashes) + 1) * bs <= seq.num_computed_tokens:
            index = len(seq.block_hashes)
            previous = seq.block_hashes[-1] if seq.block_hashes else None
            self._register(seq, index, block_hash(previous, seq.token_ids[index * bs : (index + 1) * bs]))

    def free_seq(self, seq: Sequence) -> None:
        """Give back a finished or preempted sequence's blocks; the tail goes first into the eviction
        order so that shared prefixes stay cached longest."""
        for block_id in reversed(seq.block_table):
            block = self.blocks[block_id]
            block.ref_count -= 1
            if block.ref_count == 0:
                self.free[block_id] = None
        seq.block_table = []
        if seq.table_row >= 0:
            self._free_rows.append(seq.table_row)
            seq.table_row = -1

    # -- internals ------------------------------------------------------------------------------------
    def _take(self, block_id: int | None) -> int:
        """Use a cached block (block_id) or the least recently freed free one, evicting its old contents."""
        if block_id is None:
            block_id = next(iter(self.free))  # O(1) on an OrderedDict
            block = self.blocks[block_id]
            if block.hash is not None and self.by_hash.get(block.hash) == block_id:
                del self.by_hash[block.hash]
            block.hash, block.tokens = None, ()
        block = self.blocks[block_id]
        if block.ref_count == 0:
            del self.free[block_id]
        block.ref_count += 1
        return block_id

    def _register(self, seq: Sequence, index: int, h: int) -> None:
        block_id = seq.block_table[index]
        block = self.blocks[block_id]
        bs = self.block_size
        block.hash, block.tokens = h, tuple(seq.token_ids[index * bs : (index + 1) * bs])
        self.by_hash.setdefault(h, block_id)
        seq.block_hashes.append(h)
