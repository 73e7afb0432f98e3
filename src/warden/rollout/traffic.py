"""Per-request samples of live traffic: which arm served it, how long it took, its tokens, its
top retrieval score, the guard's scores, whether it was a refusal or broke its context budget.

The canary reads latency and rates per arm from them, drift reads feature windows. Samples
never hold text, keys or ids of people: only numbers, the model and the arm. Writing is off
the request path: `record()` appends to a bounded in-memory buffer, and `run_flusher()`
writes batches from a worker thread every second (a full buffer drops the oldest samples and
counts them, so a slow store can never slow a request).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from warden.rollout.tables import TrafficSampleRow
from warden.store.db import Database

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 1.0
MAX_BUFFER = 20_000
OK_FINISH = ("stop", "length", "content_filter", "tool_calls")


@dataclass(frozen=True)
class TrafficSample:
    model: str
    latency_ms: float
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    rollout: str | None = None
    arm: str | None = None
    arm_hash: str | None = None
    shadow: bool = False
    pinned: bool = False
    ttft_ms: float | None = None
    top_score: float | None = None
    refusal: bool = False
    budget_violation: bool | None = None
    tool_calls: int = 0
    tool_calls_invalid: int = 0
    guard: dict[str, float] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def status(self) -> str:
        return "ok" if self.finish_reason in OK_FINISH else "error"

    def row(self) -> TrafficSampleRow:
        values = asdict(self)
        return TrafficSampleRow(status=self.status, **values)


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def sample_of(row: TrafficSampleRow) -> TrafficSample:
    return TrafficSample(
        model=row.model, latency_ms=row.latency_ms, prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens, finish_reason=row.finish_reason,
        rollout=row.rollout, arm=row.arm, arm_hash=row.arm_hash, shadow=row.shadow,
        pinned=row.pinned, ttft_ms=row.ttft_ms, top_score=row.top_score, refusal=row.refusal,
        budget_violation=row.budget_violation, tool_calls=row.tool_calls,
        tool_calls_invalid=row.tool_calls_invalid, guard=dict(row.guard or {}),
        at=_aware(row.at))


class TrafficRecorder:
    def __init__(self, db: Database, *, max_buffer: int = MAX_BUFFER) -> None:
        self.db = db
        self._buffer: deque[TrafficSample] = deque(maxlen=max_buffer)
        self._lock = threading.Lock()
        self.dropped = 0
        self.written = 0

    def record(self, sample: TrafficSample) -> None:
        with self._lock:
            if len(self._buffer) == self._buffer.maxlen:
                self.dropped += 1
            self._buffer.append(sample)

    def flush(self) -> int:
        """Write what is buffered; on failure the batch goes back to the buffer's front."""
        with self._lock:
            batch = list(self._buffer)
            self._buffer.clear()
        if not batch:
            return 0
        try:
            with self.db.session() as session:
                session.add_all([s.row() for s in batch])
                session.commit()
        except Exception:
            with self._lock:
                room = (self._buffer.maxlen or MAX_BUFFER) - len(self._buffer)
                kept = batch[-room:] if room > 0 else []
                self.dropped += len(batch) - len(kept)
                self._buffer.extendleft(reversed(kept))
            raise
        self.written += len(batch)
        return len(batch)

    async def run_flusher(self, every_s: float = FLUSH_EVERY_S) -> None:
        try:
            while True:
                await asyncio.sleep(every_s)
                try:
                    await asyncio.to_thread(self.flush)
                except Exception as exc:
                    log.warning("traffic samples: flush failed, will retry: %s", exc)
        finally:
            try:  # what is buffered at shutdown still counts
                await asyncio.to_thread(self.flush)
            except Exception:
                log.warning("traffic samples: final flush failed", exc_info=True)


class TrafficReader:
    """Windows of recorded samples (the canary's live side and drift's two windows)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def arm_samples(self, rollout: str, arm: str, *, since: datetime,
                    until: datetime | None = None, arm_hash: str | None = None,
                    include_pinned: bool = False) -> list[TrafficSample]:
        query = select(TrafficSampleRow).where(
            TrafficSampleRow.rollout == rollout, TrafficSampleRow.arm == arm,
            TrafficSampleRow.at >= since.astimezone(UTC))
        if until is not None:
            query = query.where(TrafficSampleRow.at < until.astimezone(UTC))
        if arm_hash is not None:
            query = query.where(TrafficSampleRow.arm_hash == arm_hash)
        if not include_pinned:
            query = query.where(TrafficSampleRow.pinned.is_(False))
        with self.db.session() as session:
            return [sample_of(r) for r in session.scalars(query.order_by(TrafficSampleRow.id))]

    def window(self, start: datetime, end: datetime, *, models: Sequence[str] | None = None,
               include_shadow: bool = False) -> list[TrafficSample]:
        """Caller-facing traffic in [start, end): shadow copies and pinned (evaluation)
        requests are not what users saw, so drift leaves them out unless asked."""
        query = select(TrafficSampleRow).where(TrafficSampleRow.at >= start.astimezone(UTC),
                                               TrafficSampleRow.at < end.astimezone(UTC),
                                               TrafficSampleRow.pinned.is_(False))
        if not include_shadow:
            query = query.where(TrafficSampleRow.shadow.is_(False))
        if models:
            query = query.where(TrafficSampleRow.model.in_(list(models)))
        with self.db.session() as session:
            return [sample_of(r) for r in session.scalars(query.order_by(TrafficSampleRow.id))]

    def purge(self, older_than: timedelta, now: datetime | None = None) -> int:
        cutoff = (now or datetime.now(UTC)) - older_than
        with self.db.session() as session:
            result = session.execute(delete(TrafficSampleRow).where(
                TrafficSampleRow.at < cutoff))
            session.commit()
            return int(getattr(result, "rowcount", 0) or 0)


def summarize(samples: Iterable[TrafficSample]) -> dict[str, float | int | None]:
    """Counts and latency quantiles for a status view (never the samples themselves)."""
    items = list(samples)
    latencies = sorted(s.latency_ms for s in items)

    def quantile(q: float) -> float | None:
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2)

    return {"requests": len(items), "errors": sum(s.status != "ok" for s in items),
            "refusals": sum(s.refusal for s in items),
            "budget_violations": sum(bool(s.budget_violation) for s in items),
            "latency_p50_ms": quantile(0.5), "latency_p95_ms": quantile(0.95)}
