"""The batching scheduler's step logic, without a model: a fake context records every
llama_decode batch and KV edit, and scripted samplers say which token each sequence draws.

What the real model cannot show on demand is shown here: exactly which tokens share a
decode, how a long prompt is chunked beside running streams, FIFO admission when the slots
are full, KV freed on cancel, tenant-scoped prefix reuse, and the sliding window.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from warden.engine.base import Finished, TextDelta
from warden.engine.batching.native import BatchEntry
from warden.engine.batching.scheduler import Scheduler, SchedulerLimits
from warden.engine.batching.sequence import Sequence
from warden.engine.text_assembler import TextAssembler

EOG = 0


@dataclass
class FakeContext:
    n_batch: int = 64
    n_vocab: int = 100
    batches: list[list[BatchEntry]] = field(default_factory=list)
    edits: list[tuple[Any, ...]] = field(default_factory=list)
    gate: threading.Semaphore | None = None   # when set, each decode waits for a permit

    def decode(self, entries: list[BatchEntry]) -> dict[int, int]:
        if self.gate is not None:
            assert self.gate.acquire(timeout=10), "the test never released the step"
        self.batches.append(list(entries))
        return {i: i for i, e in enumerate(entries) if e.want_logits}

    def logits(self, row: int) -> Any:
        return None

    def mask(self, row: int, banned: Iterable[int]) -> None:
        self.edits.append(("mask", row, tuple(banned)))

    def forget(self, seq_id: int, p0: int = -1, p1: int = -1) -> None:
        self.edits.append(("forget", seq_id, p0, p1))

    def shift(self, seq_id: int, p0: int, p1: int, delta: int) -> None:
        self.edits.append(("shift", seq_id, p0, p1, delta))


class Scripted:
    """Draws the given tokens in order, then end-of-generation."""

    def __init__(self, tokens: Iterable[int]) -> None:
        self._tokens: Iterator[int] = iter(tokens)
        self.closed = False

    def sample(self, ctx: Any, row: int) -> int:
        return next(self._tokens, EOG)

    def close(self) -> None:
        self.closed = True


@dataclass
class Outcome:
    events: list[Any] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def emit(self, item: Any) -> None:
        self.events.append(item)
        if isinstance(item, Finished | Exception):
            self.done.set()

    @property
    def finished(self) -> Finished:
        assert self.done.wait(10), "the sequence never finished"
        last = self.events[-1]
        assert isinstance(last, Finished)
        return last

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, TextDelta))


def sequence(rid: str, prompt: list[int], tokens: Iterable[int], *, tenant: str = "t1",
             max_new: int = 50, use_cache: bool = True) -> tuple[Sequence, Outcome]:
    out = Outcome()
    seq = Sequence(request_id=rid, tenant=tenant, prompt=prompt, max_new_tokens=max_new,
                   sampler=Scripted(tokens), assembler=TextAssembler(), emit=out.emit,
                   use_cache=use_cache)
    return seq, out


@pytest.fixture()
def run() -> Iterator[Any]:
    started: list[Scheduler] = []

    def make(ctx: FakeContext, **limits: Any) -> Scheduler:
        values = {"max_batch": 4, "chunk_size": 8, "n_ctx": 256, "l_switch": 256,
                  "n_sink": 4, "prefix_cache": True, **limits}
        scheduler = Scheduler(ctx, SchedulerLimits(**values), {EOG},
                              piece=lambda t: f"<{t}>".encode())
        scheduler.start()
        started.append(scheduler)
        return scheduler

    yield make
    for scheduler in started:
        scheduler.stop()


def test_text_usage_and_finish_reasons(run: Any) -> None:
    scheduler = run(FakeContext())
    stop_seq, stopped = sequence("a", [5, 6, 7], [11, 12])
    long_seq, capped = sequence("b", [5, 6], [11, 12, 13, 14], max_new=3)
    scheduler.submit(stop_seq)
    scheduler.submit(long_seq)
    assert stopped.finished.finish_reason == "stop" and stopped.text == "<11><12>"
    assert stopped.finished.usage.prompt_tokens == 3
    assert stopped.finished.usage.completion_tokens == 2
    assert capped.finished.finish_reason == "length" and capped.text == "<11><12><13>"


def test_one_decode_carries_one_token_per_running_sequence(run: Any) -> None:
    ctx = FakeContext(gate=threading.Semaphore(0))
    scheduler = run(ctx)
    outs = []
    for rid in "abc":
        seq, out = sequence(rid, [1, 2], [10, 11, 12])
        scheduler.submit(seq)
        outs.append(out)
    ctx.gate.release(50)  # type: ignore[union-attr]  # set above
    for out in outs:
        assert out.finished.finish_reason == "stop"
    decode_steps = [b for b in ctx.batches if all(e.want_logits for e in b)]
    # once every prompt is in, each step decodes exactly one token of each live sequence
    assert any(sorted(e.seq_id for e in b) == [0, 1, 2] for b in decode_steps)
    for batch in ctx.batches:
        seqs = [e.seq_id for e in batch if e.want_logits]
        assert len(seqs) == len(set(seqs)), "a sequence sampled twice in one step"


def test_long_prompt_is_prefilled_in_chunks_beside_a_running_stream(run: Any) -> None:
    ctx = FakeContext(gate=threading.Semaphore(0))
    scheduler = run(ctx, chunk_size=4)
    first, streaming = sequence("first", [1], range(20, 40))
    scheduler.submit(first)
    ctx.gate.release(3)  # type: ignore[union-attr]
    while len(ctx.batches) < 3:
        threading.Event().wait(0.01)
    long_seq, long_out = sequence("long", list(range(50, 60)), [70])
    scheduler.submit(long_seq)
    ctx.gate.release(100)  # type: ignore[union-attr]
    assert long_out.finished.finish_reason == "stop" and streaming.finished
    per_step = [n for n in (sum(e.seq_id == long_seq.slot for e in b) for b in ctx.batches) if n]
    assert max(per_step) <= 4, "a prompt chunk exceeded chunk_size"
    assert per_step[:3] == [4, 4, 2]  # 10 prompt tokens in chunks of 4
    # while the long prompt was prefilled, the running stream kept its token in every step
    mixed = [b for b in ctx.batches if {e.seq_id for e in b} == {first.slot, long_seq.slot}]
    assert mixed and all(b[0].seq_id == first.slot and b[0].want_logits for b in mixed)


def test_full_batch_admits_waiting_requests_first_come_first_served(run: Any) -> None:
    ctx = FakeContext()
    scheduler = run(ctx, max_batch=2)
    seqs = [sequence(rid, [1, 2, 3], [9] * 3) for rid in "abcd"]
    for seq, _ in seqs:
        scheduler.submit(seq)
    for _, out in seqs:
        assert out.finished.finish_reason == "stop"
    assert [s.order for s, _ in seqs] == [1, 2, 3, 4]
    assert all(0 <= s.slot < 2 for s, _ in seqs)


def test_cancel_frees_the_slot_and_its_kv(run: Any) -> None:
    ctx = FakeContext(gate=threading.Semaphore(0))
    scheduler = run(ctx, max_batch=1)
    slow, slow_out = sequence("slow", [1, 2], range(10, 99))
    queued, queued_out = sequence("next", [3, 4], [42])
    scheduler.submit(slow)
    scheduler.submit(queued)
    ctx.gate.release(3)  # type: ignore[union-attr]
    while len(ctx.batches) < 3:
        threading.Event().wait(0.01)
    scheduler.cancel(slow)
    ctx.gate.release(100)  # type: ignore[union-attr]
    assert slow_out.finished.finish_reason == "cancelled"
    assert queued_out.finished.finish_reason == "stop" and queued_out.text == "<42>"
    assert ("forget", 0, -1, -1) in ctx.edits  # a cancelled sequence's KV is dropped whole
    assert slow.sampler.closed  # type: ignore[attr-defined]  # a Scripted sampler


def test_prefix_cache_is_reused_by_the_same_tenant_only(run: Any) -> None:
    ctx = FakeContext()
    scheduler = run(ctx, max_batch=1)
    system = list(range(100, 120))
    first, out1 = sequence("a", [*system, 1], [7], tenant="alice")
    scheduler.submit(first)
    assert out1.finished.usage.cached_tokens == 0
    same, out2 = sequence("b", [*system, 2], [7], tenant="alice")
    scheduler.submit(same)
    assert out2.finished.usage.cached_tokens == len(system)
    other, out3 = sequence("c", [*system, 3], [7], tenant="mallory")
    scheduler.submit(other)
    assert out3.finished.usage.cached_tokens == 0


def test_a_no_cache_request_neither_reads_nor_leaves_a_prefix(run: Any) -> None:
    ctx = FakeContext()
    scheduler = run(ctx, max_batch=1)
    system = list(range(100, 120))
    for rid, use_cache, expected in (("warm", True, 0), ("eval", False, 0),
                                     ("after", True, 0), ("again", True, len(system))):
        seq, out = sequence(rid, [*system, 1], [7], tenant="alice", use_cache=use_cache)
        scheduler.submit(seq)
        assert out.finished.usage.cached_tokens == expected, rid


def test_clear_prefix_cache_drops_every_cached_prefix(run: Any) -> None:
    """A rollback clears the cache: the same tenant's next request reuses nothing."""
    ctx = FakeContext()
    scheduler = run(ctx, max_batch=2)
    system = list(range(100, 120))
    warm, out = sequence("warm", [*system, 1], [7], tenant="alice")
    scheduler.submit(warm)
    assert out.finished.usage.cached_tokens == 0
    assert scheduler.clear_prefix_cache(timeout=10)
    assert {("forget", 0, -1, -1), ("forget", 1, -1, -1)} <= set(ctx.edits)
    after, out2 = sequence("after", [*system, 2], [7], tenant="alice")
    scheduler.submit(after)
    assert out2.finished.usage.cached_tokens == 0
    again, out3 = sequence("again", [*system, 3], [7], tenant="alice")
    scheduler.submit(again)
    assert out3.finished.usage.cached_tokens == len(system)  # caching itself still works


def test_past_l_switch_the_kv_slides_and_stays_bounded(run: Any) -> None:
    ctx = FakeContext()
    scheduler = run(ctx, l_switch=32, n_sink=4, max_batch=1)
    seq, out = sequence("long", list(range(1, 11)), range(10, 90), max_new=80)
    scheduler.submit(seq)
    finished = out.finished
    assert finished.finish_reason == "length" and finished.extra["long_context_fallback"]
    assert finished.extra["peak_kv_tokens"] <= 32
    shifts = [e for e in ctx.edits if e[0] == "shift"]
    assert shifts and all(e[2] > 4 and e[4] < 0 for e in shifts)  # the sink stays put
    assert max(e.pos for b in ctx.batches for e in b) < 32


# batch work: low priority, paused for interactive work, preempted for a slot --------------
def batch_sequence(rid: str, prompt: list[int], tokens: Iterable[int], *,
                   tenant: str = "batch", max_new: int = 50) -> tuple[Sequence, Outcome]:
    seq, out = sequence(rid, prompt, tokens, tenant=tenant, max_new=max_new)
    seq.low_priority = True
    return seq, out


def steps_until(ctx: FakeContext, n: int) -> None:
    """Let the scheduler run n more decodes and wait until they happened."""
    target = len(ctx.batches) + n
    ctx.gate.release(n)  # type: ignore[union-attr]  # the tests below always set a gate
    for _ in range(1000):
        if len(ctx.batches) >= target:
            return
        threading.Event().wait(0.005)
    raise AssertionError("the scheduler did not step")


def test_waiting_interactive_requests_are_admitted_before_waiting_batch(run: Any) -> None:
    ctx = FakeContext(gate=threading.Semaphore(0))
    scheduler = run(ctx, max_batch=1)
    first, _ = sequence("first", [1, 2], [10, 11])
    scheduler.submit(first)
    steps_until(ctx, 1)
    batch, batch_out = batch_sequence("batch", [3, 4], [20])
    late, late_out = sequence("late", [5, 6], [30])
    scheduler.submit(batch)
    scheduler.submit(late)
    ctx.gate.release(100)  # type: ignore[union-attr]
    assert batch_out.finished.finish_reason == "stop" and late_out.finished
    assert first.order < late.order < batch.order  # the batch line came second to last


def test_batch_sequences_sit_out_the_steps_while_interactive_work_runs(run: Any) -> None:
    ctx = FakeContext(gate=threading.Semaphore(0))
    scheduler = run(ctx, max_batch=2)
    batch, batch_out = batch_sequence("batch", [1, 2, 3], range(10, 30), max_new=20)
    scheduler.submit(batch)
    steps_until(ctx, 3)  # prefill, then two decodes of the batch line alone
    live, live_out = sequence("live", [5, 6], [40, 41, 42], tenant="alice")
    scheduler.submit(live)
    ctx.gate.release(200)  # type: ignore[union-attr]
    assert live_out.finished.finish_reason == "stop" and live_out.text == "<40><41><42>"
    assert batch_out.finished.finish_reason == "length"
    assert batch_out.text == "".join(f"<{t}>" for t in range(10, 30))  # nothing lost
    live_steps = [i for i, b in enumerate(ctx.batches) if any(e.seq_id == live.slot for e in b)]
    during = ctx.batches[live_steps[0]:live_steps[-1] + 1]
    assert all(e.seq_id == live.slot for b in during for e in b), \
        "a batch token shared a step with the interactive stream"
    assert any(e.seq_id == batch.slot for b in ctx.batches[live_steps[-1] + 1:] for e in b)


def test_an_interactive_request_preempts_a_batch_sequence_which_resumes_intact(
        run: Any) -> None:
    ctx = FakeContext(gate=threading.Semaphore(0))
    scheduler = run(ctx, max_batch=1)
    batch, batch_out = batch_sequence("batch", [1, 2, 3], range(10, 20), max_new=10)
    scheduler.submit(batch)
    steps_until(ctx, 4)  # prefill (draws 10), then decodes that draw 11, 12, 13
    assert batch_out.text == "<10><11><12><13>"
    live, live_out = sequence("live", [5, 6], [40, 41], tenant="alice")
    scheduler.submit(live)
    ctx.gate.release(100)  # type: ignore[union-attr]
    assert live_out.finished.finish_reason == "stop"
    finished = batch_out.finished
    assert finished.finish_reason == "length" and finished.usage.completion_tokens == 10
    assert batch_out.text == "".join(f"<{t}>" for t in range(10, 20))  # none lost, none twice
    assert batch.preemptions == 1 and scheduler.preemptions == 1
    # the resumed line rebuilt its KV from its prompt and the tokens it had drawn, in order
    replays = [[e.token for e in b] for b in ctx.batches
               if b[0].seq_id == 0 and len(b) > 3 and b[0].token == 1]
    assert len(replays) == 1
    drawn = replays[0][3:]
    assert len(drawn) >= 4 and replays[0] == [1, 2, 3, *range(10, 10 + len(drawn))]
    assert ("forget", 0, -1, -1) in ctx.edits or ("forget", 0, 0, -1) in ctx.edits


def test_a_batch_sequence_never_preempts_and_waits_for_a_free_slot(run: Any) -> None:
    ctx = FakeContext(gate=threading.Semaphore(0))
    scheduler = run(ctx, max_batch=1)
    first, first_out = batch_sequence("b1", [1, 2], range(10, 15), max_new=5)
    second, second_out = batch_sequence("b2", [3, 4], [20])
    scheduler.submit(first)
    steps_until(ctx, 2)
    scheduler.submit(second)
    ctx.gate.release(100)  # type: ignore[union-attr]
    assert first_out.finished.finish_reason == "length" and second_out.finished
    assert first.preemptions == 0 and second.order > first.order


def test_preempted_past_l_switch_the_replay_is_the_sink_and_the_window() -> None:
    from warden.engine.batching.sequence import resume_tokens

    history = list(range(100, 160))  # 59 decoded tokens plus the drawn one
    # no eviction: everything decoded, then the drawn token
    assert resume_tokens(history, pos=59, n_sink=4, evicted=False) == history
    # evicted: the KV held 4 sink tokens and the newest 20; the replay adds the drawn token
    replay = resume_tokens(history, pos=24, n_sink=4, evicted=True)
    assert replay == [100, 101, 102, 103, *range(139, 160)] and len(replay) == 25


def test_interactive_latency_is_split_by_whether_batch_work_was_there(run: Any) -> None:
    ctx = FakeContext()
    scheduler = run(ctx, max_batch=2)
    alone, alone_out = sequence("alone", [1, 2], [10, 11, 12])
    scheduler.submit(alone)
    assert alone_out.finished
    gate = threading.Semaphore(0)
    ctx.gate = gate
    batch, _ = batch_sequence("batch", [3, 4], range(20, 90), max_new=60)
    scheduler.submit(batch)
    steps_until(ctx, 2)
    beside, beside_out = sequence("beside", [5, 6], [30, 31, 32], tenant="bob")
    scheduler.submit(beside)
    gate.release(500)
    assert beside_out.finished
    seen = scheduler.latency.snapshot()
    assert seen[("ttft", False)].count == 1 and seen[("itl", False)].count == 2
    assert seen[("ttft", True)].count == 1 and seen[("itl", True)].count == 2
    buckets = seen[("itl", True)].buckets
    assert buckets[-1] == (float("inf"), 2)
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(buckets))  # cumulative


@dataclass
class TimedContext(FakeContext):
    """Also notes when each decode ran, and which sequences it carried."""

    timeline: list[tuple[float, set[int]]] = field(default_factory=list)

    def decode(self, entries: list[BatchEntry]) -> dict[int, int]:
        self.timeline.append((time.monotonic(), {e.seq_id for e in entries}))
        return super().decode(entries)


@pytest.mark.parametrize("grace", [0.0, 0.3])
def test_batch_work_resumes_only_after_the_interactive_grace(run: Any, grace: float) -> None:
    ctx = TimedContext()
    scheduler = run(ctx, max_batch=2, interactive_grace_s=grace)
    batch, batch_out = batch_sequence("batch", [1, 2], itertools.repeat(20), max_new=100_000)
    scheduler.submit(batch)
    while not ctx.timeline:
        threading.Event().wait(0.005)
    live, live_out = sequence("live", [5, 6], [40, 41], tenant="alice")
    scheduler.submit(live)
    assert live_out.finished.finish_reason == "stop"
    last_live = max(t for t, seqs in ctx.timeline if live.slot in seqs)
    threading.Event().wait(grace + 0.2)
    resumed = min(t for t, seqs in ctx.timeline if t > last_live)
    scheduler.cancel(batch)
    assert batch_out.finished.finish_reason == "cancelled"
    assert resumed - last_live >= grace * 0.9
    if grace == 0.0:
        assert resumed - last_live < 0.1


@pytest.mark.parametrize("recent_s", [0.0, 30.0])
def test_after_interactive_work_batch_takes_short_steps_in_turns(run: Any,
                                                                 recent_s: float) -> None:
    ctx = TimedContext()
    scheduler = run(ctx, max_batch=4, chunk_size=32, interactive_grace_s=0.0,
                    interactive_recent_s=recent_s, batch_step_sequences=2,
                    batch_step_tokens=16)
    live, live_out = sequence("live", [5, 6], [40], tenant="alice")
    scheduler.submit(live)
    assert live_out.finished
    start = len(ctx.batches)
    outs = []
    for i in range(4):
        seq, out = batch_sequence(f"b{i}", list(range(100 + 40 * i, 140 + 40 * i)),
                                  range(10, 16), max_new=6)
        scheduler.submit(seq)
        outs.append(out)
    for out in outs:
        assert out.finished.finish_reason == "length"  # every batch line got its turn
    steps = ctx.batches[start:]
    widest = max(len({e.seq_id for e in b}) for b in steps)
    biggest_chunk = max(sum(1 for e in b if e.seq_id == sid) for b in steps
                        for sid in {e.seq_id for e in b})
    if recent_s:
        assert widest <= 2 and biggest_chunk <= 16
    else:
        assert widest == 4 and biggest_chunk == 32


def test_kv_usage_is_the_running_sequences_cells_over_the_whole_cache(run: Any) -> None:
    ctx = FakeContext(gate=threading.Semaphore(0))
    scheduler = run(ctx, max_batch=2, n_ctx=256)
    assert scheduler.kv_usage == 0
    seq, out = sequence("a", list(range(1, 9)), range(10, 99))
    scheduler.submit(seq)
    ctx.gate.release(3)  # type: ignore[union-attr]
    while len(ctx.batches) < 3:
        threading.Event().wait(0.01)
    # the scheduler now waits inside its fourth decode: the sequence holds seq.pos cells
    assert seq.pos >= 8 and scheduler.kv_usage == seq.pos / (2 * 256)
    scheduler.cancel(seq)
    ctx.gate.release(100)  # type: ignore[union-attr]
    assert out.finished.finish_reason == "cancelled"
    assert scheduler.kv_usage == 0
