"""A backup section made of whole tables: every row, every column, put back as it was.

For release state that other modules own and a restore must bring back: which arm each
rollout serves (and the history and verdicts behind it), and each advisory action type's
mode and prompt variant. Rows are JSON (datetimes as ISO text); a restore replaces the
tables' contents in one transaction and moves PostgreSQL id sequences past restored ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Table, delete, insert, select, text

from warden.store.db import Database


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def dump_tables(db: Database, tables: Sequence[Table]) -> dict[str, Any]:
    out: dict[str, Any] = {"format": 1, "tables": {}}
    with db.session() as session:
        for table in tables:
            order = list(table.primary_key.columns)
            rows = session.execute(select(table).order_by(*order)).mappings()
            out["tables"][table.name] = [{k: _plain(v) for k, v in row.items()} for row in rows]
    return out


def _typed(table: Table, raw: dict[str, Any]) -> dict[str, Any]:
    times = {c.name for c in table.columns if isinstance(c.type, DateTime)}
    return {k: datetime.fromisoformat(v) if k in times and isinstance(v, str) else v
            for k, v in raw.items()}


def restore_tables(db: Database, tables: Sequence[Table], data: dict[str, Any]) -> None:
    """Replace the tables' rows with the backup's (parents first in `tables`)."""
    rows = data.get("tables", {})
    with db.session() as session:
        for table in reversed(tables):
            session.execute(delete(table))
        for table in tables:
            batch = [_typed(table, r) for r in rows.get(table.name, [])]
            if batch:
                session.execute(insert(table), batch)
        if session.get_bind().dialect.name == "postgresql":
            for table in tables:
                serial = [c for c in table.primary_key.columns if c.autoincrement is True]
                if serial and rows.get(table.name):
                    # Rows came with their ids: the next insert must not collide with them.
                    column = serial[0].name
                    session.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column}'), "
                        f"(SELECT max({column}) FROM {table.name}))"))
        session.commit()
