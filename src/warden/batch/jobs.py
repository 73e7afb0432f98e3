"""Batch jobs and their per-line results in the store.

A job moves validating -> in_progress -> finalizing -> completed, or to failed (the input file
is unusable), expired (the completion window passed) or, through cancelling, cancelled. Only
the lease holder moves a job, and every move names the status it expects, so a cancel that
lands while the runner finalizes is never overwritten.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from warden.batch.lease import holder_is_gone, run_update
from warden.batch.tables import BatchJobRow, BatchResultRow
from warden.store.db import Database

ACTIVE = ("validating", "in_progress", "finalizing", "cancelling")
CANCELLABLE = ("validating", "in_progress")
COMPLETION_WINDOWS = {"24h": timedelta(hours=24)}
# The column each status stamps when a job enters it.
STAMP = {"in_progress": "in_progress_at", "finalizing": "finalizing_at",
         "completed": "completed_at", "failed": "failed_at", "expired": "expired_at",
         "cancelling": "cancelling_at", "cancelled": "cancelled_at"}


class BatchNotFound(LookupError):
    def __init__(self, batch_id: str) -> None:
        super().__init__(batch_id)
        self.batch_id = batch_id


class NotCancellable(Exception):
    def __init__(self, batch_id: str, status: str) -> None:
        super().__init__(f"batch {batch_id} is {status}")
        self.status = status


@dataclass(frozen=True)
class JobInfo:
    id: str
    key_id: str
    endpoint: str
    input_file_id: str
    completion_window: str
    status: str
    meta: dict[str, Any] | None
    errors: list[dict[str, Any]] | None
    total_lines: int
    output_file_id: str | None
    error_file_id: str | None
    created_at: datetime
    expires_at: datetime
    in_progress_at: datetime | None
    finalizing_at: datetime | None
    completed_at: datetime | None
    failed_at: datetime | None
    expired_at: datetime | None
    cancelling_at: datetime | None
    cancelled_at: datetime | None
    lease_owner: str | None
    lease_expires_at: datetime | None


def _info(row: BatchJobRow) -> JobInfo:
    return JobInfo(**{f.name: getattr(row, f.name) for f in fields(JobInfo)})


@dataclass(frozen=True)
class Progress:
    completed: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0


@dataclass(frozen=True)
class LineResult:
    line_no: int
    custom_id: str | None
    outcome: str            # "completed" (a 2xx answer) or "failed"
    status_code: int | None
    line: str               # the output line as written to the file
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    attempts: int = 1


def aware(ts: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything here is UTC."""
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


class JobStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, key_id: str, endpoint: str, input_file_id: str, completion_window: str,
               meta: dict[str, Any] | None) -> JobInfo:
        now = datetime.now(UTC)
        row = BatchJobRow(id="batch_" + secrets.token_hex(12), key_id=key_id, endpoint=endpoint,
                          input_file_id=input_file_id, completion_window=completion_window,
                          status="validating", meta=meta, errors=None, total_lines=0,
                          created_at=now, expires_at=now + COMPLETION_WINDOWS[completion_window])
        with self._db.session() as session:
            session.add(row)
            session.commit()
            return _info(row)

    def load(self, batch_id: str) -> JobInfo | None:
        with self._db.session() as session:
            row = session.get(BatchJobRow, batch_id)
            return _info(row) if row is not None else None

    def get(self, key_id: str, batch_id: str) -> JobInfo:
        job = self.load(batch_id)
        if job is None or job.key_id != key_id:
            raise BatchNotFound(batch_id)
        return job

    def newest(self, key_id: str, *, after: str | None = None, limit: int = 20
             ) -> tuple[list[JobInfo], bool]:
        """Newest first; `after` is the last id of the previous page (OpenAI's cursor)."""
        query = select(BatchJobRow).where(BatchJobRow.key_id == key_id)
        if after is not None:
            anchor = self.load(after)
            if anchor is None or anchor.key_id != key_id:
                raise BatchNotFound(after)
            query = query.where(
                (BatchJobRow.created_at < anchor.created_at)
                | ((BatchJobRow.created_at == anchor.created_at) & (BatchJobRow.id < anchor.id)))
        query = query.order_by(BatchJobRow.created_at.desc(), BatchJobRow.id.desc())
        with self._db.session() as session:
            rows = list(session.scalars(query.limit(limit + 1)))
        return [_info(r) for r in rows[:limit]], len(rows) > limit

    def request_cancel(self, key_id: str, batch_id: str) -> JobInfo:
        job = self.get(key_id, batch_id)
        if job.status in ("cancelling", "cancelled"):
            return job
        with self._db.session() as session:
            result = run_update(session, update(BatchJobRow).where(
                BatchJobRow.id == batch_id, BatchJobRow.status.in_(CANCELLABLE)).values(
                status="cancelling", cancelling_at=datetime.now(UTC)))
            session.commit()
        if not result.rowcount:
            current = self.get(key_id, batch_id)
            if current.status not in ("cancelling", "cancelled"):
                raise NotCancellable(batch_id, current.status)
        return self.get(key_id, batch_id)

    def claimable(self, owner: str, now: datetime | None = None) -> list[str]:
        """Active jobs whose lease is free, stale, held by a dead process on this host, or
        already `owner`'s; oldest first. Claiming is still Leases.claim's decision."""
        now = now or datetime.now(UTC)
        with self._db.session() as session:
            rows = session.execute(select(BatchJobRow.id, BatchJobRow.lease_owner,
                                          BatchJobRow.lease_expires_at)
                                   .where(BatchJobRow.status.in_(ACTIVE))
                                   .order_by(BatchJobRow.created_at)).all()
        return [r.id for r in rows
                if r.lease_owner is None or r.lease_owner == owner
                or r.lease_expires_at is None or aware(r.lease_expires_at) < now
                or holder_is_gone(r.lease_owner)]

    def transition(self, batch_id: str, owner: str, expected: Iterable[str], status: str,
                   **values: Any) -> bool:
        """Move a job the lease holder runs, if it is still in one of `expected`."""
        if status in STAMP:
            values.setdefault(STAMP[status], datetime.now(UTC))
        with self._db.session() as session:
            result = run_update(session, update(BatchJobRow).where(
                BatchJobRow.id == batch_id, BatchJobRow.lease_owner == owner,
                BatchJobRow.status.in_(tuple(expected))).values(status=status, **values))
            session.commit()
            return bool(result.rowcount)

    # results ----------------------------------------------------------------------------
    def record(self, batch_id: str, result: LineResult) -> bool:
        """Store one line's answer; False when the line already had one (it is kept)."""
        row = BatchResultRow(batch_id=batch_id, created_at=datetime.now(UTC),
                             **{f.name: getattr(result, f.name) for f in fields(LineResult)})
        with self._db.session() as session:
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return False
        return True

    def answered(self, batch_id: str) -> set[int]:
        with self._db.session() as session:
            return set(session.scalars(select(BatchResultRow.line_no)
                                       .where(BatchResultRow.batch_id == batch_id)))

    def progress(self, batch_id: str) -> Progress:
        r = BatchResultRow
        with self._db.session() as session:
            rows = session.execute(
                select(r.outcome, func.count(), func.sum(r.prompt_tokens),
                       func.sum(r.completion_tokens), func.sum(r.cached_tokens))
                .where(r.batch_id == batch_id).group_by(r.outcome)).all()
        counts = {row[0]: row for row in rows}
        done, failed = counts.get("completed"), counts.get("failed")
        return Progress(completed=done[1] if done else 0, failed=failed[1] if failed else 0,
                        prompt_tokens=sum(int(row[2] or 0) for row in rows),
                        completion_tokens=sum(int(row[3] or 0) for row in rows),
                        cached_tokens=sum(int(row[4] or 0) for row in rows))

    def results(self, batch_id: str) -> list[tuple[str, str]]:
        """(outcome, output line) of every answered line, in input order."""
        r = BatchResultRow
        with self._db.session() as session:
            rows = session.execute(select(r.outcome, r.line).where(r.batch_id == batch_id)
                                   .order_by(r.line_no)).all()
        return [(row[0], row[1]) for row in rows]
