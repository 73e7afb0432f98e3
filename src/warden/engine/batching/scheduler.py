"""Continuous batching over llama.cpp: one llama_decode per step for every live sequence.

Each step:
1. admit waiting requests into free slots, interactive before batch, each first come first
   served; an interactive request that finds no free slot takes one from a batch sequence;
2. drop cancelled sequences and free their KV at once;
3. build one batch: one token for every decoding sequence, then prompt chunks for prefilling
   sequences (bounded by `chunk_size`, so a long prompt never stalls running streams);
4. decode, sample each sequence that produced logits, emit its text, retire the finished.

Batch (low-priority) sequences fill idle capacity only: while an interactive sequence runs or
waits, they sit out the steps (one llama_decode costs nearly per token on CPU, so any batch
token in a step would slow the interactive stream) and keep their KV. A preempted batch
sequence goes back to the front of the batch line and later rebuilds its KV by replaying its
tokens (sequence.resume_tokens): nothing it generated is lost or sent twice.

Slots keep their KV after a request ends, tagged with the tenant and tokens, so the next
request of the same tenant that shares a prefix (system prompt, few-shot block) skips it.
A tenant never reuses another tenant's slot contents: no cross-tenant timing signal.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from warden.constraints.base import ConstraintError, apply_all
from warden.engine.base import Finished, FinishReason, TextDelta, Usage
from warden.engine.batching.native import BatchEntry
from warden.engine.batching.priority import PriorityLatency
from warden.engine.batching.sequence import Sequence, resume_tokens

log = logging.getLogger(__name__)


class BatchContext(Protocol):
    """What the scheduler needs of a llama.cpp context (native.NativeContext in production;
    the unit tests drive the step logic with a fake that records every call)."""

    n_batch: int
    n_vocab: int

    def decode(self, entries: list[BatchEntry]) -> dict[int, int]: ...

    def logits(self, row: int) -> Any: ...

    def mask(self, row: int, banned: Iterable[int]) -> None: ...

    def forget(self, seq_id: int, p0: int = -1, p1: int = -1) -> None: ...

    def shift(self, seq_id: int, p0: int, p1: int, delta: int) -> None: ...


@dataclass(frozen=True)
class SchedulerLimits:
    max_batch: int
    chunk_size: int
    n_ctx: int          # per-sequence context
    l_switch: int       # beyond this many cached positions, switch to sink + sliding window
    n_sink: int
    prefix_cache: bool
    # Batch work stays paused this long after the last interactive step: a live session's
    # next request (a chat turn, an agent's next call) usually follows within it, and then
    # finds the engine free instead of waiting out a full batch step.
    interactive_grace_s: float = 0.25
    # For this long after interactive work a step carries at most `batch_step_sequences`
    # batch sequences and `batch_step_tokens` of their prompt (or replay) tokens: one
    # llama_decode cannot be interrupted, so an interactive request that arrives mid-step
    # waits out a short step instead of a full batch. Long idle: full steps, full throughput.
    interactive_recent_s: float = 10.0
    batch_step_sequences: int = 2
    batch_step_tokens: int = 16


@dataclass
class _SlotCache:
    tenant: str | None = None
    tokens: list[int] = field(default_factory=list)
    last_used: int = 0


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class Scheduler:
    def __init__(self, ctx: BatchContext, limits: SchedulerLimits, eog: set[int],
                 piece: Callable[[int], bytes],
                 after_step: Callable[[], None] | None = None) -> None:
        self._ctx = ctx
        self._after_step = after_step or (lambda: None)
        self._limits = limits
        self._eog = eog
        self._piece = piece
        self._admitted = 0
        self._waiting: deque[Sequence] = deque()       # interactive, FIFO
        self._waiting_low: deque[Sequence] = deque()   # batch, FIFO (preempted ones in front)
        self._active: dict[int, Sequence] = {}
        self._slots = [_SlotCache() for _ in range(limits.max_batch)]
        self._clock = 0
        self._interactive_at = -1e9  # monotonic time of the last step with interactive work
        self._tick = 0               # _step calls, for taking turns among batch sequences
        self._wake = threading.Condition()
        self._stopping = False
        self._clear_requests: list[threading.Event] = []  # clear_prefix_cache() callers
        self._thread = threading.Thread(target=self._run, name="warden-batcher", daemon=True)
        self.steps = 0
        self.tokens_decoded = 0
        self.tokens_generated = 0
        self.preemptions = 0
        self.latency = PriorityLatency()

    # control, from any thread ----------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def submit(self, seq: Sequence) -> None:
        seq.submitted_at = time.monotonic()
        with self._wake:
            (self._waiting_low if seq.low_priority else self._waiting).append(seq)
            self._wake.notify()

    def cancel(self, seq: Sequence) -> None:
        seq.cancelled.set()
        with self._wake:
            self._wake.notify()

    def clear_prefix_cache(self, timeout: float = 10.0) -> bool:
        """Drop every cached prompt prefix (a rollback: no reuse of the old arm's prompts).
        Done on the scheduler thread between steps; slots in use keep their KV (it belongs
        to a running sequence) and are not cached when they retire. True once done."""
        done = threading.Event()
        with self._wake:
            self._clear_requests.append(done)
            self._wake.notify()
        return done.wait(timeout)

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout=30)

    @property
    def load(self) -> tuple[int, int]:
        return len(self._active), len(self._waiting) + len(self._waiting_low)

    @property
    def kv_usage(self) -> float:
        """Share of the context's KV cells held by running sequences (0..1); read from any
        thread (a snapshot of the running set, so at worst one step old)."""
        cells = sum(seq.pos for seq in list(self._active.values()))
        return min(1.0, cells / max(1, self._limits.max_batch * self._limits.n_ctx))

    # the loop, on the scheduler thread -------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and not self._waiting and not self._waiting_low \
                        and not self._active and not self._clear_requests:
                    self._wake.wait()
                if self._stopping:
                    break
                if self._clear_requests:
                    self._drop_cached_prefixes()
                    if not self._waiting and not self._waiting_low and not self._active:
                        continue
                self._admit()
                paused = self._paused_for()
                if paused > 0:  # only batch work, inside the grace after interactive work
                    self._after_step()  # what _admit finished (cancelled waiters) goes out
                    self._wake.wait(timeout=paused)
                    continue
            try:
                self._step()
            except Exception as exc:
                log.exception("batch step failed")
                for seq in list(self._active.values()):
                    seq.emit(exc)
                    self._retire(seq, keep_cache=False)
            finally:
                self._after_step()  # deliver this step's events in one wake-up
        for seq in [*self._active.values(), *self._waiting, *self._waiting_low]:
            self._finish(seq, "cancelled")
        self._after_step()

    def _drop_cached_prefixes(self) -> None:
        for slot, cache in enumerate(self._slots):
            if slot not in self._active:
                cache.tokens = []
                self._ctx.forget(slot)
        for seq in self._active.values():
            seq.use_cache = False  # its KV is not kept for reuse when it retires
        for done in self._clear_requests:
            done.set()
        self._clear_requests.clear()

    def _interactive_now(self) -> bool:
        return bool(self._waiting) or any(not s.low_priority for s in self._active.values())

    def _paused_for(self) -> float:
        """Seconds batch work still waits: only batch is here, within the interactive grace."""
        if not self._active or self._interactive_now():
            return 0.0
        return max(0.0, self._interactive_at + self._limits.interactive_grace_s
                   - time.monotonic())

    def _admit(self) -> None:
        """Interactive first; batch only into slots nobody interactive wants. An interactive
        request that finds every slot taken preempts a batch sequence (step boundary)."""
        for line in (self._waiting, self._waiting_low):
            for seq in [s for s in line if s.cancelled.is_set()]:
                line.remove(seq)
                self._finish(seq, "cancelled")
        while self._waiting or self._waiting_low:
            line = self._waiting or self._waiting_low
            seq = line[0]
            if len(self._active) >= self._limits.max_batch:
                victim = None if seq.low_priority else self._victim()
                if victim is None:
                    return
                self._preempt(victim)
            line.popleft()
            self._place(seq)

    def _victim(self) -> Sequence | None:
        """The batch sequence cheapest to rebuild later: the fewest KV cells."""
        low = [s for s in self._active.values() if s.low_priority and s.finish_reason is None]
        return min(low, key=lambda s: (s.pos, -s.order)) if low else None

    def _preempt(self, seq: Sequence) -> None:
        """Free a batch sequence's slot; it waits at the front of the batch line. Its KV stays
        tagged in the slot's cache, so if nobody overwrites it the replay skips it."""
        in_kv = seq.history[:-1] if seq.decoding else seq.feed[:seq.prefilled]
        if seq.decoding:
            seq.replay = resume_tokens(seq.history, seq.pos, self._limits.n_sink,
                                       seq.long_context_engaged)
        self._active.pop(seq.slot, None)
        cache = self._slots[seq.slot]
        self._clock += 1
        cache.last_used = self._clock
        if self._limits.prefix_cache and seq.use_cache and not seq.long_context_engaged:
            cache.tenant, cache.tokens = seq.tenant, list(in_kv)
        else:
            cache.tokens = []
            self._ctx.forget(seq.slot)
        seq.slot, seq.prefilled, seq.pos = -1, 0, 0
        seq.preemptions += 1
        self.preemptions += 1
        self._waiting_low.appendleft(seq)

    def _place(self, seq: Sequence) -> None:
        free = [i for i in range(self._limits.max_batch) if i not in self._active]
        best, reuse = free[0], 0
        if self._limits.prefix_cache and seq.use_cache:
            for slot in free:
                cache = self._slots[slot]
                if cache.tenant != seq.tenant:
                    continue
                # Re-evaluate at least the last prompt token: its logits start the answer.
                shared = min(common_prefix(cache.tokens, seq.feed), len(seq.feed) - 1)
                if shared > reuse:
                    best, reuse = slot, shared
        if reuse == 0:
            # No useful cache: take the least recently used free slot, keep hot ones longer.
            best = min(free, key=lambda s: self._slots[s].last_used)
        self._ctx.forget(best, reuse, -1)
        cache = self._slots[best]
        cache.tenant, cache.tokens = seq.tenant, list(seq.feed[:reuse])
        seq.slot, seq.prefilled, seq.pos = best, reuse, reuse
        if seq.replay is None:  # a replay rebuilds KV for tokens already in history
            seq.history = list(seq.prompt[:reuse])
        if seq.preemptions == 0:  # usage counts the prefix cache of the first placement
            seq.cached_tokens = reuse
        self._admitted += 1
        seq.order = self._admitted
        self._active[best] = seq

    def _step(self) -> None:
        for seq in [s for s in self._active.values() if s.cancelled.is_set()]:
            self._finish(seq, "cancelled")
        if not self._active:
            return
        running, batch_chunk = self._runnable()
        entries: list[BatchEntry] = []
        owners: list[Sequence | None] = []
        for seq in running:
            if seq.decoding and seq.last_token is not None:  # decoding implies a last token
                self._make_room(seq)
                entries.append(BatchEntry(seq.slot, seq.last_token, seq.pos, True))
                owners.append(seq)
                seq.pos += 1
        budget = self._ctx.n_batch - len(entries)
        for seq in sorted(running, key=lambda s: s.order):
            if budget <= 0:
                break
            if not seq.prefilling:
                continue
            self._make_room(seq)
            start, feed = seq.prefilled, seq.feed
            chunk = batch_chunk if seq.low_priority else self._limits.chunk_size
            n = min(len(feed) - start, budget, chunk, self._limits.l_switch - seq.pos)
            for k in range(n):
                last = start + k == len(feed) - 1
                entries.append(BatchEntry(seq.slot, feed[start + k], seq.pos + k, last))
                owners.append(seq if last else None)
            if seq.replay is None:  # a replay rebuilds KV for tokens already in history
                seq.history.extend(feed[start:start + n])
            seq.prefilled += n
            seq.pos += n
            budget -= n
        if not entries:
            return
        for seq in self._active.values():
            seq.peak_kv_tokens = max(seq.peak_kv_tokens, seq.pos)
        self._ctx.decode(entries)
        self.tokens_decoded += len(entries)
        self.steps += 1
        for row, owner in enumerate(owners):
            if owner is not None and owner.finish_reason is None:
                self._sample(owner, row)

    def _runnable(self) -> tuple[list[Sequence], int]:
        """Who takes part in this step, and how many prompt tokens a batch sequence may add.

        Interactive work runs or waits: only interactive sequences (batch ones keep their KV
        and sit out). Interactive work was here recently: a few batch sequences, least
        recently stepped first, in short steps. Otherwise: everyone, full chunks."""
        now, limits = time.monotonic(), self._limits
        self._tick += 1
        if self._interactive_now():
            self._interactive_at = now
            return [s for s in self._active.values() if not s.low_priority], 0
        running = list(self._active.values())
        chunk = limits.chunk_size
        if now - self._interactive_at < limits.interactive_recent_s:
            running = sorted(running, key=lambda s: s.last_step)[:limits.batch_step_sequences]
            chunk = min(chunk, limits.batch_step_tokens)
        for seq in running:
            seq.last_step = self._tick
        return running, chunk

    def _sample(self, seq: Sequence, row: int) -> None:
        """Masks first (they only ever lower logits to -inf, so they compose), then draw."""
        if seq.forbidden is not None:
            self._ctx.mask(row, seq.forbidden.banned(seq.raw_text))
        try:
            if seq.constraints:
                apply_all(seq.constraints, self._ctx.logits(row), self._ctx.n_vocab)
            token = seq.sampler.sample(self._ctx, row)
            for constraint in seq.constraints:
                constraint.accept(token)
        except ConstraintError as exc:
            # Never continue unconstrained: the sequence ends with the error.
            seq.emit(exc)
            self._finish(seq, "stop")
            return
        self._advance(seq, token)

    def _make_room(self, seq: Sequence) -> None:
        """Past l_switch keep the first n_sink tokens and slide the rest (StreamingLLM), so
        the sequence's KV never holds more than l_switch cells however long it runs."""
        limit = self._limits.l_switch
        if seq.pos < limit:
            return
        sink = self._limits.n_sink
        discard = max(1, (limit - sink) // 2)
        self._ctx.forget(seq.slot, sink, sink + discard)
        self._ctx.shift(seq.slot, sink + discard, -1, -discard)
        seq.pos -= discard
        seq.evicted_tokens += discard
        self._slots[seq.slot].tokens = []  # positions moved: this KV no longer matches tokens

    def _advance(self, seq: Sequence, token: int) -> None:
        if token in self._eog:
            self._finish(seq, "stop")
            return
        seq.generated += 1
        self.tokens_generated += 1
        seq.last_token = token
        seq.history.append(token)
        piece = self._piece(token)
        if seq.forbidden is not None:
            seq.raw_text += piece.decode("utf-8", errors="ignore")
        text = seq.assembler.push(piece)
        if text:
            self._observe_latency(seq)
            seq.emit(TextDelta(text))
        if seq.assembler.stopped or any(c.is_finished() for c in seq.constraints):
            self._finish(seq, "stop")
        elif seq.generated >= seq.max_new_tokens:
            self._finish(seq, "length")

    def _observe_latency(self, seq: Sequence) -> None:
        """Interactive time to first text and gaps, split by whether batch work is here."""
        if seq.low_priority:
            return
        now = time.monotonic()
        batch_active = bool(self._waiting_low) or any(s.low_priority
                                                      for s in self._active.values())
        if seq.last_emit_at is None:
            self.latency.observe("ttft", now - seq.submitted_at, batch_active)
        else:
            self.latency.observe("itl", now - seq.last_emit_at, batch_active)
        seq.last_emit_at = now

    def _finish(self, seq: Sequence, reason: FinishReason, retire: bool = True) -> None:
        if seq.finish_reason is not None:
            return
        seq.finish_reason = reason
        tail = seq.assembler.flush() if reason != "cancelled" else ""
        if tail:
            seq.emit(TextDelta(tail))
        extra = {"long_context_fallback": seq.long_context_engaged,
                 "evicted_tokens": seq.evicted_tokens, "peak_kv_tokens": seq.peak_kv_tokens,
                 "slot": seq.slot}
        # Free the slot before the consumer hears "finished": whoever reacts to the end of
        # a request (the next request, a load check) finds its slot already free.
        if retire:
            self._retire(seq, keep_cache=reason != "cancelled")
        seq.emit(Finished(reason, Usage(len(seq.prompt), seq.generated, seq.cached_tokens),
                          extra=extra))

    def _retire(self, seq: Sequence, keep_cache: bool) -> None:
        seq.sampler.close()
        if seq.slot < 0:  # never placed, or preempted and waiting: no slot to free
            return
        self._active.pop(seq.slot, None)
        cache = self._slots[seq.slot]
        self._clock += 1
        cache.last_used = self._clock
        if keep_cache and self._limits.prefix_cache and seq.use_cache \
                and not seq.long_context_engaged:
            # The last sampled token was never decoded, so the KV holds history[:-1].
            cache.tokens = seq.history[:-1] if seq.generated else list(seq.history)
        else:
            cache.tokens = []
            self._ctx.forget(seq.slot)
