"""Which replica runs a job: a lease in the store, claimed and renewed with one conditional
UPDATE each, so two replicas never both believe they hold it.

A lease not renewed within its TTL passes on. A replica that restarts on the same host can
take over at once when the holder's process is gone (a `kill -9` leaves its lease behind):
the owner id names host and pid, and a dead pid on this host cannot be renewing.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Update, or_, update
from sqlalchemy.orm import Session

from warden.batch.tables import BatchJobRow
from warden.store.db import Database


def run_update(session: Session, statement: Update) -> Any:
    """A conditional UPDATE, evaluated by the database only (the rows a session holds may be
    stale, and SQLite hands back naive datetimes that Python cannot compare)."""
    return session.execute(statement, execution_options={"synchronize_session": False})


def replica_owner() -> str:
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{secrets.token_hex(4)}"


def holder_is_gone(owner: str, host: str | None = None) -> bool:
    """True only when the owner ran on this host and its process no longer exists."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    name = parts[0]
    if name != (host or socket.gethostname()[:100]):
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, under another user
    return False


class Leases:
    def __init__(self, db: Database, owner: str, ttl_s: float) -> None:
        self._db = db
        self.owner = owner
        self._ttl = timedelta(seconds=ttl_s)

    def claim(self, batch_id: str, now: datetime | None = None) -> bool:
        now = now or datetime.now(UTC)
        job = BatchJobRow
        with self._db.session() as session:
            current = session.get(job, batch_id)
            if current is None:
                return False
            free = or_(job.lease_owner.is_(None), job.lease_expires_at < now,
                       job.lease_owner == self.owner)
            if current.lease_owner and holder_is_gone(current.lease_owner):
                free = or_(free, job.lease_owner == current.lease_owner)
            result = run_update(session, update(job).where(job.id == batch_id, free).values(
                lease_owner=self.owner, lease_expires_at=now + self._ttl))
            session.commit()
            return bool(result.rowcount)

    def renew(self, batch_id: str, now: datetime | None = None) -> bool:
        now = now or datetime.now(UTC)
        job = BatchJobRow
        with self._db.session() as session:
            result = run_update(session, update(job).where(
                job.id == batch_id, job.lease_owner == self.owner).values(
                lease_expires_at=now + self._ttl))
            session.commit()
            return bool(result.rowcount)

    def release(self, batch_id: str) -> None:
        job = BatchJobRow
        with self._db.session() as session:
            run_update(session, update(job).where(job.id == batch_id, job.lease_owner == self.owner)
                            .values(lease_owner=None, lease_expires_at=None))
            session.commit()
