"""Files of the Batch API: metadata in the store, bodies in a FileStorage, owned by the key
that created them. Another key asking for a file gets the same answer as for a missing one."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from warden.batch.storage import FileStorage
from warden.batch.tables import BatchFileRow
from warden.store.db import Database

PURPOSES_IN = ("batch",)          # what a client may upload
PURPOSE_OUT = "batch_output"      # what Warden writes (output and error files)


class FileNotFound(LookupError):
    def __init__(self, file_id: str) -> None:
        super().__init__(file_id)
        self.file_id = file_id


@dataclass(frozen=True)
class FileInfo:
    id: str
    key_id: str
    purpose: str
    filename: str
    bytes: int
    sha256: str
    created_at: datetime


def _info(row: BatchFileRow) -> FileInfo:
    return FileInfo(row.id, row.key_id, row.purpose, row.filename, row.bytes, row.sha256,
                    row.created_at)


def new_file_id() -> str:
    return "file-" + secrets.token_hex(12)


def derived_file_id(batch_id: str, kind: str) -> str:
    """Output files get ids derived from their batch: writing them again replaces them."""
    return "file-" + hashlib.sha256(f"{batch_id}:{kind}".encode()).hexdigest()[:24]


class FileStore:
    def __init__(self, db: Database, storage: FileStorage) -> None:
        self._db = db
        self._storage = storage

    def create(self, key_id: str, filename: str, purpose: str, data: bytes,
               file_id: str | None = None) -> FileInfo:
        """Body first, then the row: a crash leaves an orphan body, never a row without one.
        With `file_id` given the file is written again in place (idempotent outputs)."""
        file_id = file_id or new_file_id()
        self._storage.put(file_id, data)
        row = BatchFileRow(id=file_id, key_id=key_id, purpose=purpose, filename=filename[:255],
                           bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
                           created_at=datetime.now(UTC))
        with self._db.session() as session:
            session.merge(row)
            session.commit()
        return _info(row)

    def get(self, key_id: str, file_id: str) -> FileInfo:
        with self._db.session() as session:
            row = session.get(BatchFileRow, file_id)
        if row is None or row.key_id != key_id:
            raise FileNotFound(file_id)
        return _info(row)

    def content(self, key_id: str, file_id: str) -> bytes:
        self.get(key_id, file_id)
        try:
            return self._storage.get(file_id)
        except FileNotFoundError as exc:
            raise FileNotFound(file_id) from exc

    def newest(self, key_id: str, *, purpose: str | None = None, limit: int = 100
             ) -> list[FileInfo]:
        query = select(BatchFileRow).where(BatchFileRow.key_id == key_id)
        if purpose is not None:
            query = query.where(BatchFileRow.purpose == purpose)
        query = query.order_by(BatchFileRow.created_at.desc()).limit(limit)
        with self._db.session() as session:
            return [_info(r) for r in session.scalars(query)]
