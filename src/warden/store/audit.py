"""Append-only audit log over the hash chain. Callers never pass raw prompts or PII."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from warden.store.db import Database
from warden.store.hashchain import GENESIS, ChainProblem, ChainRecord, link_hash, verify
from warden.store.models import AuditRecord

_APPEND_ATTEMPTS = 50
# Any constant: every replica's appends queue on it (PostgreSQL only).
_PG_AUDIT_LOCK = 0x57A2D4


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()

    def append(self, kind: str, actor: str, payload: dict[str, Any]) -> int:
        """Add one record and return its sequence number.

        Appends are serialized: in-process by a lock, across PostgreSQL replicas by an advisory
        lock held for the transaction. The unique prev_hash index is the last line of defence
        (SQLite across processes): a writer that lost the race retries on the new tail.
        """
        with self._lock:
            return self._append(kind, actor, payload)

    def _append(self, kind: str, actor: str, payload: dict[str, Any]) -> int:
        for attempt in range(_APPEND_ATTEMPTS):
            with self._db.session() as session:
                if session.get_bind().dialect.name == "postgresql":
                    session.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                                    {"k": _PG_AUDIT_LOCK})
                tail = session.scalars(
                    select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(1)
                ).first()
                seq = tail.seq + 1 if tail else 1
                prev = tail.hash if tail else GENESIS
                ts = datetime.now(UTC)
                body = _body(seq, ts, kind, actor, payload)
                session.add(AuditRecord(seq=seq, ts=ts, kind=kind, actor=actor, payload=payload,
                                        prev_hash=prev, hash=link_hash(prev, body)))
                try:
                    session.commit()
                    return seq
                except IntegrityError:
                    session.rollback()  # another writer took this slot; read the new tail
            time.sleep(random.uniform(0, 0.005 * (attempt + 1)))
        raise RuntimeError("audit log: could not append after repeated write conflicts")

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

    def purge(self, cutoff: datetime, actor: str) -> int:
        """Delete records older than `cutoff` and append an anchor record.

        The anchor holds the hash of the last deleted record, so the oldest surviving record
        still links to something the chain itself protects: verify() starts from it.
        """
        with self._lock, self._db.session() as session:
            last = session.scalars(
                select(AuditRecord).where(AuditRecord.ts < cutoff)
                .order_by(AuditRecord.seq.desc()).limit(1)).first()
            if last is None:
                return 0
            through, anchor = last.seq, last.hash
            count = session.query(AuditRecord).filter(AuditRecord.seq <= through).delete()
            session.commit()
        self.append("audit.purge", actor, {"purged_through_seq": through,
                                           "anchor_hash": anchor, "count": count,
                                           "cutoff": cutoff.isoformat()})
        return count

    def _start_hash(self, first_seq: int) -> str | None:
        """The chain's starting hash: genesis, or the anchor of the purge that ended before
        `first_seq`; None if records are missing with no purge to explain it."""
        if first_seq == 1:
            return GENESIS
        with self._db.session() as session:
            anchors = session.scalars(select(AuditRecord).where(
                AuditRecord.kind == "audit.purge").order_by(AuditRecord.seq.desc()))
            for row in anchors:
                if row.payload.get("purged_through_seq") == first_seq - 1:
                    return str(row.payload["anchor_hash"])
        return None

    def verify(self) -> tuple[int, ChainProblem | None]:
        """(records checked, first problem or None)."""
        count = 0

        def chain() -> Iterator[ChainRecord]:
            nonlocal count
            for row in self.records():
                count += 1
                yield ChainRecord(row.seq, _body(row.seq, row.ts, row.kind, row.actor,
                                                 row.payload), row.prev_hash, row.hash)

        first = next(self.records(batch=1), None)
        if first is None:
            return 0, None
        start = self._start_hash(first.seq)
        if start is None:
            return 0, ChainProblem(first.seq, f"records 1..{first.seq - 1} are missing and no "
                                              "purge anchor accounts for them")
        problem = verify(chain(), start_hash=start)
        return count, problem


def _aware(ts: datetime) -> datetime:
    # SQLite hands datetimes back naive; they were stored as UTC.
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def _body(seq: int, ts: datetime, kind: str, actor: str, payload: dict[str, Any]
          ) -> dict[str, Any]:
    return {"seq": seq, "ts": _aware(ts).isoformat(), "kind": kind, "actor": actor,
            "payload": payload}
