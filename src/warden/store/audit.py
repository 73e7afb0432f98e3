"""Append-only audit log over the hash chain. Callers never pass raw prompts or PII.

Retention (purge) deletes the oldest records and appends an `audit.purge` anchor holding the
last deleted record's hash, so the rest still verifies. Purge verifies the chain first: on a
broken chain it refuses (ChainBroken), because deleting the broken records would also delete
the evidence. Forced with `record_break=True`, the anchor keeps the break (record number and
problem), and verify() keeps reporting it for as long as any anchor carries it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from warden.store.db import Database
from warden.store.hashchain import GENESIS, ChainProblem, ChainRecord, link_hash, verify
from warden.store.models import AuditRecord
from warden.telemetry.tracing import span

_APPEND_ATTEMPTS = 50
PURGE_KIND = "audit.purge"
T = TypeVar("T")
# Any constant: every replica's appends queue on it (PostgreSQL only).
_PG_AUDIT_LOCK = 0x57A2D4


class ChainBroken(Exception):
    """The chain does not verify, so purging would destroy the evidence."""

    def __init__(self, problem: ChainProblem) -> None:
        self.problem = problem
        super().__init__(f"audit chain broken at record {problem.seq}: {problem.problem}")


@dataclass(frozen=True)
class PurgeResult:
    count: int
    purged_through_seq: int | None = None
    recorded_break: ChainProblem | None = None  # a break the anchor now carries (forced)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AuditLog:
    def __init__(self, db: Database, clock: Callable[[], datetime] = _utc_now) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._clock = clock  # record timestamps; tests age records without breaking hashes

    def append(self, kind: str, actor: str, payload: dict[str, Any]) -> int:
        """Add one record and return its sequence number.

        Appends are serialized: in-process by a lock, across PostgreSQL replicas by an advisory
        lock held for the transaction. The unique prev_hash index is the last line of defence
        (SQLite across processes): a writer that lost the race retries on the new tail.
        """
        with span("warden.audit.append", {"warden.audit.kind": kind}) as traced, self._lock:
            seq = self._append(kind, actor, payload)
            if traced is not None:
                traced.set_attribute("warden.audit.seq", seq)
            return seq

    def _append(self, kind: str, actor: str, payload: dict[str, Any]) -> int:
        return self._in_turn(lambda session: self._add(session, kind, actor, payload))

    def _in_turn(self, work: Callable[[Session], T]) -> T:
        """Run `work` in one transaction holding the append turn; if another writer took the
        tail meanwhile (the unique prev_hash index says so), roll back and run it again."""
        for attempt in range(_APPEND_ATTEMPTS):
            with self._db.session() as session:
                if session.get_bind().dialect.name == "postgresql":
                    session.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                                    {"k": _PG_AUDIT_LOCK})
                result = work(session)
                try:
                    session.commit()
                    return result
                except IntegrityError:
                    session.rollback()  # another writer took this slot; read the new tail
            time.sleep(random.uniform(0, 0.005 * (attempt + 1)))
        raise RuntimeError("audit log: could not append after repeated write conflicts")

    def _add(self, session: Session, kind: str, actor: str, payload: dict[str, Any],
             after: tuple[int, str] = (0, GENESIS)) -> int:
        """Add a record after the tail, or after `after` (seq, hash) when the table is empty:
        a purge that deleted every record still continues the sequence and the chain."""
        tail = session.scalars(
            select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(1)
        ).first()
        last_seq, prev = (tail.seq, tail.hash) if tail else after
        seq, ts = last_seq + 1, self._clock()
        body = _body(seq, ts, kind, actor, payload)
        session.add(AuditRecord(seq=seq, ts=ts, kind=kind, actor=actor, payload=payload,
                                prev_hash=prev, hash=link_hash(prev, body)))
        return seq

    def records(self, batch: int = 1000) -> Iterator[AuditRecord]:
        last = 0
        while True:
            with self._db.session() as session:
                rows = list(session.scalars(
                    select(AuditRecord).where(AuditRecord.seq > last)
                    .order_by(AuditRecord.seq).limit(batch)
                ))
            if not rows:
                return
            yield from rows
            last = rows[-1].seq

    def export(self) -> Iterator[dict[str, Any]]:
        """Every record as a plain dict, oldest first (the JSONL of `warden audit export`)."""
        for row in self.records():
            yield {"seq": row.seq, "ts": _aware(row.ts).isoformat(), "kind": row.kind,
                   "actor": row.actor, "payload": row.payload, "prev_hash": row.prev_hash,
                   "hash": row.hash}

    def purge(self, cutoff: datetime, actor: str, *, record_break: bool = False
              ) -> PurgeResult:
        """Delete records older than `cutoff` and append an anchor record.

        The anchor holds the hash of the last deleted record, so the oldest surviving record
        still links to something the chain itself protects: verify() starts from it.
        The chain is verified first: a broken chain raises ChainBroken, unless `record_break`,
        in which case the anchor records the first break so verify() still reports it.
        """
        with self._lock:
            _checked, problem, carried = self._inspect()
            if problem is not None and not record_break:
                raise ChainBroken(problem)
            return self._in_turn(lambda session: self._purge(session, cutoff, actor, problem,
                                                             carried))

    def _purge(self, session: Session, cutoff: datetime, actor: str,
               problem: ChainProblem | None, carried: dict[str, Any] | None) -> PurgeResult:
        last = session.scalars(
            select(AuditRecord).where(AuditRecord.ts < cutoff)
            .order_by(AuditRecord.seq.desc()).limit(1)).first()
        if last is None:
            return PurgeResult(0)
        through, anchor = last.seq, last.hash
        count = session.query(AuditRecord).filter(AuditRecord.seq <= through).delete()
        payload: dict[str, Any] = {"purged_through_seq": through, "anchor_hash": anchor,
                                   "count": count, "cutoff": cutoff.isoformat()}
        if problem is not None:
            # An earlier anchor's record is carried over as it was, so it survives this purge.
            payload["chain_break"] = carried or {"seq": problem.seq, "problem": problem.problem,
                                                 "forced_by": actor}
        # Same transaction as the delete: nobody sees (or appends to) a chain with no anchor.
        self._add(session, PURGE_KIND, actor, payload, after=(through, anchor))
        return PurgeResult(count, through, problem)

    def _anchors(self) -> list[AuditRecord]:
        with self._db.session() as session:
            return list(session.scalars(select(AuditRecord).where(
                AuditRecord.kind == PURGE_KIND).order_by(AuditRecord.seq.desc())))

    def _start_hash(self, first_seq: int, anchors: list[AuditRecord]) -> str | None:
        """The chain's starting hash: genesis, or the anchor of the purge that ended before
        `first_seq`; None if records are missing with no purge to explain it."""
        if first_seq == 1:
            return GENESIS
        for row in anchors:
            if row.payload.get("purged_through_seq") == first_seq - 1:
                return str(row.payload["anchor_hash"])
        return None

    def verify(self) -> tuple[int, ChainProblem | None]:
        """(records checked, first problem or None). A break that a forced purge deleted is
        still reported: its anchor carries it."""
        checked, problem, _carried = self._inspect()
        return checked, problem

    def _inspect(self) -> tuple[int, ChainProblem | None, dict[str, Any] | None]:
        """(records checked, first problem, and the anchor payload it came from when the
        problem is one a forced purge recorded)."""
        count = 0

        def chain() -> Iterator[ChainRecord]:
            nonlocal count
            for row in self.records():
                count += 1
                yield ChainRecord(row.seq, _body(row.seq, row.ts, row.kind, row.actor,
                                                 row.payload), row.prev_hash, row.hash)

        first = next(self.records(batch=1), None)
        if first is None:
            return 0, None, None
        anchors = self._anchors()
        start = self._start_hash(first.seq, anchors)
        if start is None:
            return 0, ChainProblem(first.seq, f"records 1..{first.seq - 1} are missing and no "
                                              "purge anchor accounts for them"), None
        live = verify(chain(), start_hash=start)
        recorded = _recorded_break(anchors)
        if recorded is not None and (live is None or recorded[0].seq <= live.seq):
            return count, recorded[0], recorded[1]
        return count, live, None


def _recorded_break(anchors: list[AuditRecord]) -> tuple[ChainProblem, dict[str, Any]] | None:
    """The oldest break a forced purge kept on record, with the anchor that names it."""
    found: list[tuple[ChainProblem, dict[str, Any]]] = []
    for row in anchors:
        raw = row.payload.get("chain_break")
        if not isinstance(raw, dict) or not isinstance(raw.get("seq"), int):
            continue
        found.append((ChainProblem(raw["seq"], (
            f"{raw.get('problem')} (found by a purge that {raw.get('forced_by')} forced "
            f"with --force-record-break; audit.purge record {row.seq} keeps it on record)")),
            raw))
    return min(found, key=lambda item: item[0].seq) if found else None


def _aware(ts: datetime) -> datetime:
    # SQLite hands datetimes back naive; they were stored as UTC.
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def _body(seq: int, ts: datetime, kind: str, actor: str, payload: dict[str, Any]
          ) -> dict[str, Any]:
    return {"seq": seq, "ts": _aware(ts).isoformat(), "kind": kind, "actor": actor,
            "payload": payload}
