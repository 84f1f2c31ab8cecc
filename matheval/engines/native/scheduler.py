"""Which sequences run in the next model step.

Continuous batching: each step is either a prefill of newly admitted sequences (as many as the token
budget, the sequence limit and the free KV blocks allow) or one decode token for every running sequence.
Waiting prompts go first so that the decode batch refills as soon as sequences finish, except a few
newcomers (or a few free slots) beside a batch several times their number: they wait up to
`prefill_delay_rounds` decode rounds to be prefilled together (agents' calls arrive one by one, and
every prefill step costs the same host time, ~20 ms for a 1.5B model, however few tokens it has). When the cache
runs out of blocks mid-decode, the most recently admitted sequence is preempted: its blocks are freed
and it is recomputed later (cheaply, since its full blocks usually stay in the prefix cache).
"""

from __future__ import annotations

from collections import deque

from .block_manager import BlockManager
from .config import EngineConfig
from .sequence import Sequence, Status


class Scheduler:
    def __init__(self, config: EngineConfig, blocks: BlockManager):
        self.max_num_seqs = config.max_num_seqs
        self.max_num_batched_tokens = config.max_num_batched_tokens
        self.prefill_delay_rounds = config.prefill_delay_rounds
        self.delayed_rounds = 0  # decode rounds run since a waiting sequence could have been prefilled
        self.blocks = blocks
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.num_preemptions = 0

    def add(self, seq: Sequence) -> None:
        self.waiting.append(seq)

    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    def schedule(self, can_preempt: bool = True) -> tuple[list[Sequence], bool] | None:
        """(sequences, is_prefill); empty when nothing can run. None when the decode batch would need a
        preemption but `can_preempt` is False: a sequence is only preempted once all its tokens are read
        back (it is recomputed from them)."""
        if self._prefill_can_wait():
            self.delayed_rounds += 1
        else:
            self.delayed_rounds = 0
            batch = self._admit()
            if batch:
                return batch, True
        batch = self._decode_batch(can_preempt)
        return None if batch is None else (batch, False)

    def _prefill_can_wait(self) -> bool:
        """A few short newcomers that could join now beside a batch at least four times their number, not
        yet kept waiting for prefill_delay_rounds: decode first, and prefill them with whoever arrives, or
        whatever slots free up, meanwhile. "Could join" is capped by the free sequence slots: a long
        queue in front of a nearly full batch (an n-sample request per problem) is let in a few slots
        at a time otherwise, each time for the fixed cost of a prefill step."""
        if not self.waiting or self.delayed_rounds >= self.prefill_delay_rounds:
            return False
        joining = min(len(self.waiting), self.max_num_seqs - len(self.running))
        if joining == 0 or len(self.running) < 4 * joining:
            return False
        return self._prefill_tokens(joining) < self.max_num_batched_tokens // 4

    def _prefill_tokens(self, count: int) -> int:
        """Tokens a prefill of the first `count` waiting sequences would compute, about: the other samples
        of a request whose prompt is computed in the same step, or already held by a running sample, find
        it in the prefix cache and compute a block at most."""
        total, seen = 0, set()
        for i, seq in enumerate(self.waiting):
            if i == count:
                break
            request = id(seq.request)
            if request in seen or seq.request.admitted:
                total += self.blocks.block_size
            else:
                total += seq.num_tokens
            seen.add(request)
        return total

    def _admit(self) -> list[Sequence]:
        batch: list[Sequence] = []
        budget = self.max_num_batched_tokens
        while self.waiting and len(self.running) < self.max_num_seqs:
            seq = self.waiting[0]
            # The first sequence of a step may exceed the budget alone: a long prompt must run some time.
            used = self.blocks.try_allocate(seq, budget if batch else max(budget, seq.num_tokens))
            if used is None:
                break
            budget -= used
            self.waiting.popleft()
            seq.status = Status.RUNNING
            seq.request.admitted = True
            self.running.append(seq)
            batch.append(seq)
        return batch

    def _decode_batch(self, can_preempt: bool) -> list[Sequence] | None:
        batch: list[Sequence] = []
        running = self.running
        i = 0
        while i < len(running):
            seq = running[i]
            if seq.fully_scheduled:  # its last token is pending: nothing to run
                i += 1
                continue
            if self.blocks.can_append(seq):
                self.blocks.append_slot(seq)
                batch.append(seq)
                i += 1
                continue
            if not can_preempt:
                return None
            victim = running.pop()  # the latest admitted gives way
            self._preempt(victim)
            if victim is seq:
                break
        return batch

    def _preempt(self, seq: Sequence) -> None:
        assert seq.num_pending == 0, "a sequence with unread tokens cannot be recomputed"
        self.num_preemptions += 1
        self.blocks.free_seq(seq)
        seq.reset_for_recompute()
        self.waiting.appendleft(seq)

    def finish(self, seq: Sequence) -> None:
        """Release a sequence that finished (or was aborted); the caller drops it from `running`."""
        seq.status = Status.FINISHED
        self.blocks.free_seq(seq)

    def drop_finished(self) -> None:
        self.running = [s for s in self.running if s.status is Status.RUNNING]

    def abort(self, seqs: list[Sequence]) -> None:
        """Remove sequences of a cancelled request, wherever they are."""
        doomed = {s.seq_id for s in seqs}
        self.waiting = deque(s for s in self.waiting if s.seq_id not in doomed)
        for seq in seqs:
            if seq.status is Status.RUNNING:
                self.finish(seq)
            seq.status = Status.FINISHED
        self.drop_finished()
