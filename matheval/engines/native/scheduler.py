"""Which sequences run in the next model step.

Continuous batching: each step is either a prefill of newly admitted sequences (as many as the token
budget, the sequence limit and the free KV blocks allow) or a decode round (up to `decode_steps` tokens)
for every running sequence. Waiting prompts go first so that the decode batch refills as soon as
sequences finish, except a few newcomers (or a few free slots) beside a batch several times their number:
they wait up to `prefill_delay_rounds` decode rounds to be prefilled together (agents' calls arrive one by
one, and every prefill step costs the same host time, ~20 ms for a 1.5B model, however few tokens it has).

When the KV cache is short (long reasoning traces, many samples), three rules keep it from thrashing:
- admission keeps back a reserve of `RESERVE_ROUNDS` rounds of growth for the running sequences, so a
  newcomer is not let in only to be preempted at once, and decode rounds find their blocks;
- a decode round that lacks blocks preempts rather than shrinks: the sequences that arrived last (by
  request order, so a sequence resumed after a preemption keeps its place) give their blocks back and
  are recomputed later, from the front of the queue (cheaply while their blocks stay in the prefix
  cache); rounds keep their length, so the host's per-round work stays spread over several steps;
- a preemption waits for the step in flight to be read back (a sequence is recomputed from its tokens).
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

from .block_manager import BlockManager
from .config import EngineConfig
from .sequence import Sequence, Status


RESERVE_ROUNDS = 2  # decode rounds of growth for every running sequence that admission keeps free


class Plan(NamedTuple):
    seqs: list[Sequence]
    is_prefill: bool
    steps: int = 1  # decode steps of the round (1 for a prefill)


class Scheduler:
    def __init__(self, config: EngineConfig, blocks: BlockManager, max_seq_len: int | None = None):
        self.max_num_seqs = config.max_num_seqs
        self.max_num_batched_tokens = config.max_num_batched_tokens
        self.prefill_delay_rounds = config.prefill_delay_rounds
        self.steps_per_round = config.steps_per_round
        self.max_seq_len = max_seq_len or blocks.block_size * len(blocks.blocks)
        self.delayed_rounds = 0  # decode rounds run since a waiting sequence could have been prefilled
        self.blocks = blocks
        # blocks one running sequence may take in RESERVE_ROUNDS rounds
        self.reserve_per_seq = RESERVE_ROUNDS * -(-self.steps_per_round // blocks.block_size)
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.num_preemptions = 0
        self.preempted_tokens = 0  # K/V tokens the preempted sequences held (recomputed unless still cached)
        self.preemption_waits = 0  # rounds put off until the step in flight was read back, to preempt

    def add(self, seq: Sequence) -> None:
        self.waiting.append(seq)

    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    def schedule(self, can_preempt: bool = True) -> Plan | None:
        """The next step; its `seqs` are empty when nothing can run. None when the decode round needs a
        preemption but `can_preempt` is False: a sequence is only preempted once all its tokens are read
        back (it is recomputed from them)."""
        if self._prefill_can_wait():
            self.delayed_rounds += 1
        else:
            self.delayed_rounds = 0
            batch = self._admit()
            if batch:
                return Plan(batch, True)
        return self._decode_round(can_preempt)

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
            used = self.blocks.try_allocate(seq, budget if batch else max(budget, seq.num_tokens),
                                            reserve=len(self.running) * self.reserve_per_seq)
            if used is None:
                break
            budget -= used
            self.waiting.popleft()
            seq.status = Status.RUNNING
            seq.request.admitted = True
            self.running.append(seq)
            batch.append(seq)
        return batch

    def _decode_round(self, can_preempt: bool) -> Plan | None:
        """Every running sequence with tokens still to schedule, and blocks for the whole round; the
        sequences that arrived last are preempted until the round fits."""
        batch = [seq for seq in self.running if not seq.fully_scheduled]  # (the others' last token is pending)
        if not batch:
            return Plan([], False)
        steps = self._round_steps(batch)
        while self._blocks_for(batch, steps) > self.blocks.num_free:
            if not can_preempt:
                self.preemption_waits += 1
                return None
            victim = max(self.running, key=lambda s: s.seq_id)
            self.running.remove(victim)
            self._preempt(victim)
            if victim in batch:
                batch.remove(victim)
            if not batch:
                return Plan([], False)
            steps = self._round_steps(batch)
        for seq in batch:
            self.blocks.reserve(seq, seq.num_tokens + steps - 2)
        return Plan(batch, False, steps)

    def _round_steps(self, batch: list[Sequence]) -> int:
        """The configured steps, but no more than the longest sequence still needs and never past a
        sequence's length limit (positions and block tables end there)."""
        return max(1, min(self.steps_per_round,
                          max(s.params.max_tokens - s.num_output_tokens for s in batch),
                          min(self.max_seq_len - s.num_tokens + 1 for s in batch)))  # fmt: skip

    def _blocks_for(self, batch: list[Sequence], steps: int) -> int:
        """Fresh blocks the round needs: each sequence writes K/V up to its position num_tokens + steps - 2."""
        return sum(self.blocks.blocks_to_reach(s, s.num_tokens + steps - 2) for s in batch)

    def _preempt(self, seq: Sequence) -> None:
        assert seq.num_pending == 0, "a sequence with unread tokens cannot be recomputed"
        self.num_preemptions += 1
        self.preempted_tokens += seq.num_computed_tokens
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
