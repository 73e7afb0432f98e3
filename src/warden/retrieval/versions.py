"""Index versions and the active pointer (one row per corpus) with its flip history.

A version is written in state 'building' and becomes 'ready' in one transaction, together
with the pointer flip when asked: a reader sees either the old world or the new one. Search
reads only the pointer, so activate and rollback are a single-row update.
"""

from __future__ import annotations

import builtins
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warden.retrieval.tables import RetrievalPointer, RetrievalPointerEvent, RetrievalVersion
from warden.store.db import Database
from warden.store.retry import WriteConflict, write_retrying

BUILDING, READY, FAILED = "building", "ready", "failed"
_PG_POINTER_LOCK = 0x57A2D5  # any constant: pointer flips queue on it across replicas
T = TypeVar("T")


class VersionError(Exception):
    """A version or pointer operation that cannot be done; the message says why."""


def aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


@dataclass(frozen=True)
class VersionInfo:
    id: int
    corpus: str
    state: str
    ingest_run_id: str
    created_at: datetime
    ready_at: datetime | None
    heartbeat_at: datetime
    merkle_root: str | None
    chunk_count: int
    quarantined_count: int
    document_count: int
    stats: dict[str, Any]
    settings: dict[str, Any]
    description: str | None

    @classmethod
    def of(cls, row: RetrievalVersion) -> VersionInfo:
        return cls(row.id, row.corpus, row.state, row.ingest_run_id, aware(row.created_at),
                   aware(row.ready_at) if row.ready_at else None, aware(row.heartbeat_at),
                   row.merkle_root, row.chunk_count, row.quarantined_count, row.document_count,
                   dict(row.stats or {}), dict(row.settings or {}), row.description)


@dataclass(frozen=True)
class Flip:
    corpus: str
    previous: int | None
    current: int

    @property
    def changed(self) -> bool:
        return self.previous != self.current


def _retrying(db: Database, work: Callable[[Session], T]) -> T:
    try:
        return write_retrying(db, work, pg_lock=_PG_POINTER_LOCK)
    except WriteConflict as exc:
        raise VersionError("could not write the version store after repeated write "
                           "conflicts") from exc


def _flip(session: Session, corpus: str, version_id: int, action: str, actor: str) -> Flip:
    now = datetime.now(UTC)
    pointer = session.get(RetrievalPointer, corpus)
    previous = pointer.version_id if pointer else None
    if previous == version_id:
        return Flip(corpus, previous, version_id)
    if pointer is None:
        session.add(RetrievalPointer(corpus=corpus, version_id=version_id, updated_at=now,
                                     updated_by=actor))
    else:
        pointer.version_id, pointer.updated_at, pointer.updated_by = version_id, now, actor
    seq = (session.scalar(select(func.max(RetrievalPointerEvent.seq))) or 0) + 1
    session.add(RetrievalPointerEvent(seq=seq, corpus=corpus, version_id=version_id,
                                      previous_version_id=previous, action=action, actor=actor,
                                      at=now))
    return Flip(corpus, previous, version_id)


class VersionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # building ------------------------------------------------------------------------
    def begin(self, corpus: str, settings: dict[str, Any], description: str | None = None
              ) -> tuple[int, str]:
        """Reserve the next version id in state 'building'; return (version id, run id)."""
        run_id = f"run_{uuid.uuid4().hex[:20]}"

        def work(session: Session) -> int:
            now = datetime.now(UTC)
            version_id = (session.scalar(select(func.max(RetrievalVersion.id))) or 0) + 1
            session.add(RetrievalVersion(
                id=version_id, corpus=corpus, state=BUILDING, ingest_run_id=run_id,
                created_at=now, heartbeat_at=now, chunk_count=0, quarantined_count=0,
                document_count=0, stats={}, settings=settings, description=description))
            session.flush()
            return version_id

        return _retrying(self.db, work), run_id

    def fail(self, version_id: int, reason: str) -> None:
        """A run that stopped with an error: keep the row (ids are never reused), mark it."""
        with self.db.session() as session:
            row = session.get(RetrievalVersion, version_id)
            if row is not None and row.state == BUILDING:
                row.state = FAILED
                row.stats = {**(row.stats or {}), "error": reason[:500]}
                session.commit()

    def heartbeat(self, version_id: int) -> None:
        with self.db.session() as session:
            row = session.get(RetrievalVersion, version_id)
            if row is not None and row.state == BUILDING:
                row.heartbeat_at = datetime.now(UTC)
                session.commit()

    def finalize(self, version_id: int, *, merkle_root: str, chunk_count: int,
                 quarantined_count: int, document_count: int, stats: dict[str, Any],
                 activate: bool | None, actor: str) -> Flip | None:
        """Mark ready and, if asked (None: only when the corpus has no active version yet),
        point the corpus at it, all in one transaction. Returns the flip, if any."""

        def work(session: Session) -> Flip | None:
            row = session.get(RetrievalVersion, version_id)
            if row is None or row.state != BUILDING:
                raise VersionError(f"version {version_id} is not being built")
            row.state, row.ready_at = READY, datetime.now(UTC)
            row.merkle_root, row.chunk_count = merkle_root, chunk_count
            row.quarantined_count, row.document_count = quarantined_count, document_count
            row.stats = stats
            has_pointer = session.get(RetrievalPointer, row.corpus) is not None
            if activate or (activate is None and not has_pointer):
                return _flip(session, row.corpus, version_id, "activate", actor)
            return None

        return _retrying(self.db, work)

    # reading -------------------------------------------------------------------------
    def get(self, version_id: int) -> VersionInfo | None:
        with self.db.session() as session:
            row = session.get(RetrievalVersion, version_id)
            return VersionInfo.of(row) if row else None

    def require_ready(self, version_id: int) -> VersionInfo:
        info = self.get(version_id)
        if info is None:
            raise VersionError(f"no version {version_id}; see `warden index versions`")
        if info.state != READY:
            raise VersionError(f"version {version_id} is {info.state}, not ready")
        return info

    def list(self, corpus: str | None = None) -> list[VersionInfo]:
        query = select(RetrievalVersion).order_by(RetrievalVersion.id)
        if corpus:
            query = query.where(RetrievalVersion.corpus == corpus)
        with self.db.session() as session:
            return [VersionInfo.of(r) for r in session.scalars(query)]

    def active(self, corpus: str) -> int | None:
        with self.db.session() as session:
            pointer = session.get(RetrievalPointer, corpus)
            return pointer.version_id if pointer else None

    def pointers(self) -> dict[str, int]:
        with self.db.session() as session:
            return {p.corpus: p.version_id for p in session.scalars(select(RetrievalPointer))}

    # builtins.list: inside this class, plain `list` names the method above.
    def history(self, corpus: str) -> builtins.list[RetrievalPointerEvent]:
        with self.db.session() as session:
            return list(session.scalars(
                select(RetrievalPointerEvent).where(RetrievalPointerEvent.corpus == corpus)
                .order_by(RetrievalPointerEvent.seq)))

    def as_of(self, corpus: str, when: datetime) -> int | None:
        """The version that was active for corpus at `when` (None if none was)."""
        with self.db.session() as session:
            event = session.scalars(
                select(RetrievalPointerEvent)
                .where(RetrievalPointerEvent.corpus == corpus,
                       # UTC: SQLite keeps datetimes without their offset
                       RetrievalPointerEvent.at <= aware(when).astimezone(UTC))
                .order_by(RetrievalPointerEvent.at.desc(), RetrievalPointerEvent.seq.desc())
                .limit(1)).first()
            return event.version_id if event else None

    # flipping ------------------------------------------------------------------------
    def activate(self, version_id: int, actor: str) -> Flip:
        info = self.require_ready(version_id)
        return _retrying(self.db, lambda s: _flip(s, info.corpus, version_id, "activate",
                                                  actor))

    def rollback(self, corpus: str, actor: str) -> Flip:
        """Point back at the version that was active before the current one."""

        def work(session: Session) -> Flip:
            events = session.scalars(
                select(RetrievalPointerEvent).where(RetrievalPointerEvent.corpus == corpus)
                .order_by(RetrievalPointerEvent.seq)).all()
            stack: list[int] = []
            for event in events:  # replaying the flips: a rollback undoes the last activation
                if event.action == "rollback":
                    if stack:
                        stack.pop()
                else:
                    stack.append(event.version_id)
            if len(stack) < 2:
                raise VersionError(f"corpus '{corpus}' has no earlier active version to roll "
                                   "back to")
            return _flip(session, corpus, stack[-2], "rollback", actor)

        return _retrying(self.db, work)


class PointerCache:
    """Per-replica cache of the active pointer; a flip is seen within `ttl` seconds (≤ 1)."""

    def __init__(self, store: VersionStore, ttl: float = 0.5) -> None:
        self.store = store
        self.ttl = min(max(ttl, 0.0), 1.0)
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, int | None]] = {}

    def invalidate(self, corpus: str | None = None) -> None:
        """Forget what was read: a flip made by this process is seen at once."""
        with self._lock:
            if corpus is None:
                self._cache.clear()
            else:
                self._cache.pop(corpus, None)

    def get(self, corpus: str) -> int | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(corpus)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        version = self.store.active(corpus)
        with self._lock:
            self._cache[corpus] = (now, version)
        return version


def ready_versions(db: Database) -> Callable[[], list[tuple[datetime, int]]]:
    """(created_at, quarantined_count) of every ready index version in the store: the
    poisoned-chunks trigger's signal (warden.safety.switches.trigger_runner)."""
    store = VersionStore(db)

    def read() -> list[tuple[datetime, int]]:
        return [(v.created_at, v.quarantined_count) for v in store.list() if v.state == READY]

    return read
