"""Table rows to JSON lines and back, with the column types restored. Used by backups.

Streams in batches with a running SHA-256, so a backup of a large store never holds a whole
table in memory and the checksum costs no second read.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import DateTime, LargeBinary, Table, select
from sqlalchemy.engine import Connection


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def _decoder(table: Table) -> dict[str, Any]:
    decoders: dict[str, Any] = {}
    for column in table.columns:
        if isinstance(column.type, DateTime):
            decoders[column.name] = lambda v: None if v is None else datetime.fromisoformat(v)
        elif isinstance(column.type, LargeBinary):
            decoders[column.name] = lambda v: None if v is None else base64.b64decode(v)
    return decoders


class HashingWriter:
    """A file opened for writing that counts bytes and hashes them on the way."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handle: BinaryIO = path.open("wb")
        self._digest = hashlib.sha256()
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self._handle.write(data)
        self._digest.update(data)
        self.bytes += len(data)

    def close(self) -> dict[str, Any]:
        self._handle.flush()
        self._handle.close()
        return {"sha256": self._digest.hexdigest(), "bytes": self.bytes}


def dump_rows(connection: Connection, table: Table, path: Path, *, where: Any = None,
              order_by: Any = None, batch: int = 2000) -> dict[str, Any]:
    """Write the table's rows (optionally filtered) as sorted-key JSON lines."""
    query = select(table)
    if where is not None:
        query = query.where(where)
    query = query.order_by(*(order_by if order_by is not None else table.primary_key.columns))
    writer = HashingWriter(path)
    rows = 0
    result = connection.execution_options(yield_per=batch).execute(query)
    for row in result.mappings():
        line = json.dumps({k: _encode(v) for k, v in row.items()}, sort_keys=True,
                          ensure_ascii=False, separators=(",", ":"))
        writer.write(line.encode("utf-8") + b"\n")
        rows += 1
    return {**writer.close(), "rows": rows}


def read_rows(table: Table, path: Path) -> Iterator[dict[str, Any]]:
    decoders = _decoder(table)
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            raw = json.loads(line)
            yield {k: decoders[k](v) if k in decoders else v for k, v in raw.items()}


def load_rows(connection: Connection, table: Table, path: Path, batch: int = 1000) -> int:
    """Insert every row of a dump into the table (inside the caller's transaction)."""
    pending: list[dict[str, Any]] = []
    count = 0
    for row in read_rows(table, path):
        pending.append(row)
        if len(pending) >= batch:
            connection.execute(table.insert(), pending)
            count += len(pending)
            pending = []
    if pending:
        connection.execute(table.insert(), pending)
        count += len(pending)
    return count


def file_digest(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return {"sha256": digest.hexdigest(), "bytes": size}
