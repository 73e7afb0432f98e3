"""One transaction that retries when a concurrent writer won a race.

SQLite reports a busy database as OperationalError("database is locked"); both backends
report a lost insert race as IntegrityError. On PostgreSQL the work first takes a
transaction-scoped advisory lock, so writers of one kind (pointer flips, switch flips) queue
across replicas instead of colliding.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from warden.store.db import Database

T = TypeVar("T")
ATTEMPTS = 40


class WriteConflict(Exception):
    """Still conflicting after every attempt."""


def write_retrying(db: Database, work: Callable[[Session], T], *, pg_lock: int,
                   attempts: int = ATTEMPTS) -> T:
    """Run work in its own transaction and commit; retry on write conflicts with jitter."""
    for attempt in range(attempts):
        with db.session() as session:
            try:
                if session.get_bind().dialect.name == "postgresql":
                    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": pg_lock})
                result = work(session)
                session.commit()
                return result
            except (IntegrityError, OperationalError) as exc:
                session.rollback()
                if isinstance(exc, OperationalError) and "locked" not in str(exc).lower():
                    raise
        time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
    raise WriteConflict(f"still conflicting after {attempts} attempts")
